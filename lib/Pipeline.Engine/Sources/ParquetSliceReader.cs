using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Parquet;
using Parquet.Schema;
using Pipeline.Engine.Building;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Sources;

/// <summary>
/// Reads a Parquet file as one chunk per row group. Decoding happens on the chunk workers, each with
/// its own reader, and only for the columns the export uses.
/// </summary>
public sealed class ParquetSliceReader : ISliceReader
{
    private readonly ISourceStore _store;
    private readonly SourceFile _file;
    private readonly int _rowGroups;
    private readonly ParquetLayout _layout;

    private ParquetSliceReader(ISourceStore store, SourceFile file, IReadOnlyList<string> columns, int rowGroups, ParquetLayout layout)
    {
        _store = store;
        _file = file;
        Columns = columns;
        _rowGroups = rowGroups;
        _layout = layout;
    }

    public IReadOnlyList<string> Columns { get; }

    public static Task<ParquetSliceReader> OpenAsync(SourceFile file, CancellationToken cancellationToken) =>
        OpenAsync(FileSourceStore.Instance, file, cancellationToken);

    /// <summary>Reads the footer of <paramref name="file"/> in <paramref name="store"/>; row groups are read later, only the columns used.</summary>
    public static async Task<ParquetSliceReader> OpenAsync(ISourceStore store, SourceFile file, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(file);
        await using var handle = await ParquetHandle.OpenAsync(store, file, cancellationToken);
        var columns = handle.Reader.Schema.Fields.Select(f => f.Name).ToList();
        SourceColumns.RejectDuplicates(file.Path, columns);
        var layout = new ParquetLayout(handle.Reader.Schema, handle.Reader.Metadata, handle.Reader.Schema.GetDataFields());
        return new ParquetSliceReader(store, file, columns, handle.Reader.RowGroupCount, layout);
    }

    public async IAsyncEnumerable<ISourceChunk> ReadChunksAsync(Func<int, bool> skip, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var group = 0; group < _rowGroups; group++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (skip(group)) continue;
            yield return new ParquetChunk(_store, _file, group, _layout);
        }
        await Task.CompletedTask;
    }

    public void Dispose() { }
}

/// <summary>An open Parquet file (a seekable stream over the store's ranged reads), with errors turned into messages that name the file.</summary>
internal sealed class ParquetHandle : IAsyncDisposable
{
    private readonly SourceRangeStream _stream;

    private ParquetHandle(SourceRangeStream stream, ParquetReader reader)
    {
        _stream = stream;
        Reader = reader;
    }

    public ParquetReader Reader { get; }

    public static async Task<ParquetHandle> OpenAsync(ISourceStore store, SourceFile file, CancellationToken cancellationToken)
    {
        var stream = new SourceRangeStream(store, file.Path, file.Length, file.Version);
        try
        {
            await CheckFramingAsync(store, stream, file, cancellationToken);
            var reader = await ParquetReader.CreateAsync(stream, new ParquetOptions(), leaveStreamOpen: true, cancellationToken);
            return new ParquetHandle(stream, reader);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await stream.DisposeAsync();
            // Not the file's fault: the store could not be read (a dropped connection); the stage is retried.
            if (e is SourceException or SourceUnavailableException) throw;
            throw new SourceException($"{file.Path}: the Parquet footer (schema and row group index) cannot be read ({e.Message}); the file is damaged: write it again.", e);
        }
    }

    /// <summary>"PAR1" at both ends and a footer that fits: what a file cut short or not Parquet at all lacks.</summary>
    private static async Task CheckFramingAsync(ISourceStore store, SourceRangeStream stream, SourceFile file, CancellationToken cancellationToken)
    {
        var length = stream.Length;
        var head = new byte[4];
        var tail = new byte[8];
        if (length >= 4)
        {
            // Only the 4 bytes: a window at the start would fetch bytes the column chunk reads fetch again. Parquet.Net
            // reads them too, from the stream, so they are handed to it.
            var read = await store.ReadAsync(file.Path, file.Version, 0, head, cancellationToken);
            stream.Preload(0, head.AsSpan(0, read));
        }
        if (length >= 12)
        {
            // The window read here holds the footer too, which Parquet.Net reads next.
            stream.Position = length - 8;
            _ = await stream.ReadAtLeastAsync(tail, tail.Length, throwOnEndOfStream: false, cancellationToken);
        }
        stream.Position = 0;
        if (!head.AsSpan().SequenceEqual("PAR1"u8))
            throw new SourceException($"{file.Path} is not a Parquet file: it does not start with the Parquet marker PAR1 ({length} bytes). Check the file, or set \"format\" on the source.");
        if (!tail.AsSpan(4).SequenceEqual("PAR1"u8))
            throw new SourceException($"{file.Path}: truncated Parquet file: it does not end with the Parquet marker PAR1 after {length} bytes, so its footer is missing. The file was cut short, for example by an interrupted copy or upload: write it again.");
        var footer = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(tail);
        if (footer > length - 12)
            throw new SourceException($"{file.Path}: corrupt Parquet file: its footer claims {footer} bytes, more than the {length}-byte file holds: write it again.");
    }

    public async ValueTask DisposeAsync()
    {
        await Reader.DisposeAsync();
        await _stream.DisposeAsync();
    }
}

/// <summary>The footer, read once per file: the schema and where every column chunk is.</summary>
internal sealed record ParquetLayout(ParquetSchema Schema, Parquet.Meta.FileMetaData? Metadata, DataField[] Leaves);

/// <summary>
/// One row group. Fast path: the used columns are strings (and segments a list of strings or a string), read
/// as UTF-8 byte ranges straight from the file (<see cref="ParquetByteColumn"/>). Otherwise (other types,
/// incremental mode, unusual encodings) Parquet.Net decodes them to strings (or segment lists, or timestamps).
/// </summary>
internal sealed class ParquetChunk(ISourceStore store, SourceFile file, int rowGroup, ParquetLayout layout) : ISourceChunk
{
    [ThreadStatic] private static ParquetDecompressor? t_decompressor;
    private ParquetByteColumn?[]? _bytes;
    private int[]? _rowFirstSlot;

    private string?[]?[] _text = [];
    private string?[]?[]? _segmentLists;
    private DateTime?[]? _updatedAt;
    private long _rows;

    public int Seq => rowGroup;

    public long SourceBytes => 0;

    /// <summary>True when the row group was read on the fast path (UTF-8 byte ranges); for tests.</summary>
    internal bool ReadAsUtf8 => _bytes is not null;

    public async ValueTask LoadAsync(ColumnBinding binding, CancellationToken cancellationToken)
    {
        if (await TryLoadBytesAsync(binding, cancellationToken)) return;
        try { await LoadWithParquetNetAsync(binding, cancellationToken); }
        catch (Exception e) when (e is not (OperationCanceledException or SourceException or SourceUnavailableException))
        {
            // A decoder's own words ("Data corruption detected") do not say which file; a retry cannot mend the file.
            throw new SourceException($"{file.Path}: row group {rowGroup} cannot be read: {e.Message.TrimEnd('.')}. The file is damaged: write it again.", e);
        }
    }

    private async Task LoadWithParquetNetAsync(ColumnBinding binding, CancellationToken cancellationToken)
    {
        await using var handle = await ParquetHandle.OpenAsync(store, file, cancellationToken);
        var schema = handle.Reader.Schema;
        using var group = handle.Reader.OpenRowGroupReader(rowGroup);
        _rows = group.RowCount;
        _text = new string?[]?[binding.ColumnCount];
        foreach (var index in binding.Used)
        {
            var field = schema.Fields[index];
            if (index == binding.Segments && field is ListField { Item: DataField item })
            {
                _segmentLists = await ReadListAsync(group, item, cancellationToken);
                continue;
            }
            if (field is not DataField data || data.MaxRepetitionLevel > 0)
                throw new SourceException($"{file.Path}: column \"{field.Name}\" is a {field.SchemaType}; only plain columns (and a list of strings for segments) can be exported.");
            if (index == binding.UpdatedAt && data.ClrType == typeof(DateTime))
            {
                _updatedAt = await ReadTimesAsync(group, data, cancellationToken);
                _text[index] = _updatedAt.Select(t => t?.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture)).ToArray();
                continue;
            }
            _text[index] = await ReadAsTextAsync(group, data, file, cancellationToken);
        }
    }

    /// <summary>The fast path; false (nothing loaded) when this row group needs the general one.</summary>
    private async ValueTask<bool> TryLoadBytesAsync(ColumnBinding binding, CancellationToken cancellationToken)
    {
        if (binding.UpdatedAt >= 0 || layout.Metadata?.RowGroups is not { } groups || rowGroup >= groups.Count) return false;
        var group = groups[rowGroup];
        var columns = new ParquetByteColumn?[binding.ColumnCount];
        byte[]? raw = null;
        try
        {
            foreach (var index in binding.Used)
            {
                var field = layout.Schema.Fields[index];
                var list = index == binding.Segments && field is ListField { Item: DataField } ;
                var leaf = field switch
                {
                    ListField { Item: DataField item } when list => item,
                    DataField data when data.MaxRepetitionLevel == 0 && (data.ClrType == typeof(string) || data.ClrType == typeof(ReadOnlyMemory<char>)) => data,
                    _ => null,
                };
                var position = leaf is null ? -1 : Array.IndexOf(layout.Leaves, leaf);
                if (position < 0 || position >= group.Columns.Count || group.Columns[position].MetaData is not { } meta) return false;
                if (!ParquetByteColumn.TryGetRange(meta, leaf!.MaxRepetitionLevel, out var start, out var size)) return false;
                // One ranged read per column chunk: only the columns the export uses leave the store. Errors of the store
                // itself (missing, refused, unreachable) are not the file's damage, so they are not caught below.
                if (raw is null || raw.Length < size)
                {
                    if (raw is not null) SourceBuffers<byte>.Return(raw);
                    raw = SourceBuffers<byte>.Rent(size);
                }
                var read = await store.ReadAsync(file.Path, file.Version, start, raw.AsMemory(0, size), cancellationToken);
                if (!Decode(columns, index, raw.AsSpan(0, read), size, meta, leaf, list, group)) return false;
            }
            if (!IndexSegmentLists(binding, columns, group)) return false;
            _rows = group.NumRows;
            _bytes = columns;
            columns = null;
            return true;
        }
        finally
        {
            if (raw is not null) SourceBuffers<byte>.Return(raw);
            if (columns is not null) foreach (var c in columns) c?.Dispose();
        }
    }

    /// <summary>Decodes one column chunk; false when it is not covered here (NotSupportedException) or damaged: Parquet.Net reads it, or names what is wrong.</summary>
    private static bool Decode(ParquetByteColumn?[] columns, int index, ReadOnlySpan<byte> raw, int size, Parquet.Meta.ColumnMetaData meta, DataField leaf, bool list, Parquet.Meta.RowGroup group)
    {
        try
        {
            if (raw.Length < size) throw new InvalidDataException("the file ends inside a column chunk");
            var column = columns[index] = new ParquetByteColumn();
            column.Load(raw, meta, leaf.MaxDefinitionLevel, leaf.MaxRepetitionLevel, t_decompressor ??= new ParquetDecompressor());
            return column.Slots == meta.NumValues && (list || column.Slots == group.NumRows);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Where each row's segment list starts; false when the levels do not add up to the row group's rows.</summary>
    private bool IndexSegmentLists(ColumnBinding binding, ParquetByteColumn?[] columns, Parquet.Meta.RowGroup group)
    {
        if (binding.Segments < 0 || layout.Schema.Fields[binding.Segments] is not ListField { Item: DataField element }) return true;
        var segments = columns[binding.Segments]!;
        // Pooled: a 100k-row group needs a 400 KB array, and one per row group left that much garbage on the
        // large object heap each time, so peak memory grew with the number of row groups (bench/README.md).
        var length = checked((int)group.NumRows + 1);
        var first = SourceBuffers<int>.Rent(length);
        _rowFirstSlot = first;
        var row = -1;
        for (var s = 0; s < segments.Slots; s++)
            if (segments.Repetition(s) == 0 && ++row < length) first[row] = s;
        if (row + 1 != group.NumRows) return false;
        first[length - 1] = segments.Slots;
        _listMaxDefinition = element.MaxDefinitionLevel;
        return true;
    }

    private int _listMaxDefinition;

    private static async Task<string?[]> ReadAsTextAsync(ParquetRowGroupReader group, DataField field, SourceFile file, CancellationToken ct)
    {
        var rows = (int)group.RowCount;
        var type = field.ClrType;
        if (type == typeof(ReadOnlyMemory<char>) || type == typeof(string))
        {
            var values = new string?[rows];
            await group.ReadAsync(field, values.AsMemory(), null, ct);
            return values;
        }
        if (type == typeof(DateTime)) return (await ReadTimesAsync(group, field, ct)).Select(t => t?.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture)).ToArray();
        if (type == typeof(int)) return Format(await ReadAsync<int>(group, field, ct));
        if (type == typeof(long)) return Format(await ReadAsync<long>(group, field, ct));
        if (type == typeof(short)) return Format(await ReadAsync<short>(group, field, ct));
        if (type == typeof(double)) return Format(await ReadAsync<double>(group, field, ct));
        if (type == typeof(float)) return Format(await ReadAsync<float>(group, field, ct));
        if (type == typeof(decimal)) return Format(await ReadAsync<decimal>(group, field, ct));
        if (type == typeof(bool)) return (await ReadAsync<bool>(group, field, ct)).Select(b => b is null ? null : b.Value ? "true" : "false").ToArray();
        throw new SourceException($"{file.Path}: column \"{field.Name}\" has type {type.Name}, which cannot be exported as text.");
    }

    private static string?[] Format<T>(T?[] values) where T : struct, IFormattable =>
        values.Select(v => v?.ToString(null, CultureInfo.InvariantCulture)).ToArray();

    private static async Task<T?[]> ReadAsync<T>(ParquetRowGroupReader group, DataField field, CancellationToken ct) where T : struct
    {
        var result = new T?[group.RowCount];
        if (field.IsNullable)
        {
            await group.ReadAsync<T>(field, result.AsMemory(), null, ct);
            return result;
        }
        var plain = new T[group.RowCount];
        await group.ReadAsync<T>(field, plain.AsMemory(), null, ct);
        for (var i = 0; i < plain.Length; i++) result[i] = plain[i];
        return result;
    }

    private static async Task<DateTime?[]> ReadTimesAsync(ParquetRowGroupReader group, DataField field, CancellationToken ct)
    {
        var times = await ReadAsync<DateTime>(group, field, ct);
        // Timestamps adjusted to UTC come back with Kind=Utc; others are taken as UTC too (no zone is stored).
        return times.Select(t => t is null ? (DateTime?)null : DateTime.SpecifyKind(t.Value, DateTimeKind.Utc)).ToArray();
    }

    /// <summary>A list&lt;string&gt; column, per row: null (no list), [] (empty) or its elements.</summary>
    private static async Task<string?[]?[]> ReadListAsync(ParquetRowGroupReader group, DataField element, CancellationToken ct)
    {
        var slots = checked((int)group.GetMetadata(element)!.MetaData!.NumValues);
        var raw = new ReadOnlyMemory<char>[slots];
        var definitions = new int[slots];
        var repetitions = new int[slots];
        await group.ReadRawAsync<ReadOnlyMemory<char>>(element, raw, definitions, repetitions, ct);
        var maxDefinition = element.MaxDefinitionLevel;
        var slotDefinition = element.IsNullable ? maxDefinition - 1 : maxDefinition;
        var emptyDefinition = slotDefinition - 1;
        var rows = new string?[]?[group.RowCount];
        var current = new List<string?>(8);
        int row = -1, value = 0;
        var isNull = false;
        for (var s = 0; s < slots; s++)
        {
            if (repetitions[s] == 0)
            {
                if (row >= 0) rows[row] = isNull ? null : current.ToArray();
                row++;
                current.Clear();
                isNull = definitions[s] < emptyDefinition;
            }
            if (definitions[s] == maxDefinition) current.Add(new string(raw[value++].Span));
            else if (definitions[s] >= slotDefinition) current.Add(null);
        }
        if (row >= 0) rows[row] = isNull ? null : current.ToArray();
        return rows;
    }

    public void Write(ChunkWriter writer)
    {
        if (_bytes is not null) { WriteBytes(writer, _bytes); return; }
        var binding = writer.Binding;
        var selection = writer.Selection;
        var ids = _text[binding.Id];
        var segmentText = _segmentLists is null ? _text[binding.Segments] : null;
        Span<byte> small = stackalloc byte[512];
        for (var row = 0; row < _rows; row++)
        {
            writer.RowsRead++;
            var rowNumber = row + 1;
            if (string.IsNullOrEmpty(ids?[row])) { writer.Malformed(rowNumber, $"row {rowNumber} of row group {rowGroup} has no id"); continue; }
            if (DecodedTextProblem(binding, row) is { } problem) { writer.Malformed(rowNumber, $"row {rowNumber} of row group {rowGroup}: {problem}"); continue; }
            bool member;
            if (_segmentLists is not null) member = _segmentLists[row] is { } list && selection.IsMember(list);
            else
            {
                var text = segmentText?[row];
                if (string.IsNullOrEmpty(text)) continue;
                var count = Encoding.UTF8.GetByteCount(text);
                var bytes = count <= small.Length ? small[..count] : new byte[count];
                Encoding.UTF8.GetBytes(text, bytes);
                member = selection.IsMember(bytes);
            }
            if (!member) continue;
            if (binding.UpdatedAt >= 0)
            {
                if (_updatedAt is not null)
                {
                    if (_updatedAt[row] is not { } t) { writer.Malformed(rowNumber, $"row {rowNumber} of row group {rowGroup} has no updatedAt"); continue; }
                    if (!selection.InWindow(new DateTimeOffset(t, TimeSpan.Zero))) continue;
                }
                else
                {
                    var text = _text[binding.UpdatedAt]?[row] ?? "";
                    if (!selection.InWindow(Encoding.UTF8.GetBytes(text), out var inWindow)) { writer.Malformed(rowNumber, $"row {rowNumber} of row group {rowGroup}: updatedAt is not an ISO 8601 timestamp"); continue; }
                    if (!inWindow) continue;
                }
            }
            foreach (var column in binding.Output) writer.Rows.WriteField((_text[column]?[row] ?? "").AsSpan());
            writer.Rows.EndRow();
            writer.RowsWritten++;
        }
    }

    private string? DecodedTextProblem(ColumnBinding binding, int row)
    {
        foreach (var c in binding.Used)
        {
            var problem = c == binding.Segments && _segmentLists is not null
                ? _segmentLists[row]?.Select(SourceText.Problem).FirstOrDefault(p => p is not null)
                : SourceText.Problem(_text[c]?[row]);
            if (problem is not null) return $"column \"{layout.Schema.Fields[c].Name}\": {problem}";
        }
        return null;
    }

    private void WriteBytes(ChunkWriter writer, ParquetByteColumn?[] columns)
    {
        var binding = writer.Binding;
        var selection = writer.Selection;
        var ids = columns[binding.Id]!;
        var segments = columns[binding.Segments]!;
        var first = _rowFirstSlot;
        var maxDefinition = _listMaxDefinition;
        var output = binding.Output;
        var rows = writer.Rows;
        // Segment lists are dictionary-encoded in practice: test each distinct id once, not every element.
        bool[]? dictionaryMatches = null;
        if (first is not null && segments.DictionaryCount > 0)
        {
            dictionaryMatches = new bool[segments.DictionaryCount];
            for (var e = 0; e < dictionaryMatches.Length; e++) dictionaryMatches[e] = selection.IsMemberElement(segments.DictionaryValue(e));
        }
        var checkText = binding.Used.Any(c => !columns[c]!.AllText);
        for (var row = 0; row < _rows; row++)
        {
            writer.RowsRead++;
            var rowNumber = row + 1;
            if (ids.Value(row).IsEmpty) { writer.Malformed(rowNumber, $"row {rowNumber} of row group {rowGroup} has no id"); continue; }
            if (checkText && TextProblem(binding, columns, row) is { } problem) { writer.Malformed(rowNumber, $"row {rowNumber} of row group {rowGroup}: {problem}"); continue; }
            bool member;
            if (first is not null)
            {
                member = false;
                // A null or empty list is one slot below the maximum definition: no element, no match.
                for (var s = first[row]; s < first[row + 1] && !member; s++)
                {
                    if (segments.Definition(s) != maxDefinition) continue;
                    var entry = segments.Entry(s);
                    member = entry >= 0 ? dictionaryMatches![entry] : selection.IsMemberElement(segments.Value(s));
                }
            }
            else
            {
                var text = segments.Value(row);
                member = !text.IsEmpty && selection.IsMember(text);
            }
            if (!member) continue;
            foreach (var column in output) rows.WriteField(columns[column]!.Value(row));
            rows.EndRow();
            writer.RowsWritten++;
        }
    }

    /// <summary>The first used value of the row that is not valid source text, named by column; null when all are.</summary>
    private string? TextProblem(ColumnBinding binding, ParquetByteColumn?[] columns, int row)
    {
        foreach (var c in binding.Used)
        {
            var column = columns[c]!;
            if (column.AllText) continue;
            var (from, to) = c == binding.Segments && _rowFirstSlot is { } first ? (first[row], first[row + 1]) : (row, row + 1);
            for (var slot = from; slot < to; slot++)
                if (!column.IsNull(slot) && SourceText.Problem(column.Value(slot), "value") is { } problem)
                    return $"column \"{layout.Schema.Fields[c].Name}\": {problem}";
        }
        return null;
    }

    public void Dispose()
    {
        if (_bytes is not null) foreach (var c in _bytes) c?.Dispose();
        _bytes = null;
        if (_rowFirstSlot is not null) SourceBuffers<int>.Return(_rowFirstSlot);
        _rowFirstSlot = null;
        _text = [];
        _segmentLists = null;
        _updatedAt = null;
    }
}
