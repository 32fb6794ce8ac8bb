using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Sources;

/// <summary>
/// Streams a CSV or CSV.gz file and cuts it into chunks of about <c>chunkSize</c> bytes at record
/// boundaries. This single reader only finds boundaries (quote-aware, vectorized); parsing,
/// filtering and compression happen in the chunk workers, in parallel.
/// </summary>
public sealed class CsvSliceReader : ISliceReader
{
    // A record this long almost always means an unterminated quote swallowed the rest of the file.
    private const int MaxRecordBytes = 64 * 1024 * 1024;
    private static readonly byte[] Utf8Bom = [0xEF, 0xBB, 0xBF];

    private readonly SourceFile _source;
    private readonly Stream _stream;
    private readonly CountingStream _file;
    private readonly byte _delimiter;
    private readonly int _chunkSize;
    private readonly int _maxField;
    private byte[] _carry;
    private int _carryLength;
    private long _nextLine;
    private bool _eof;

    private CsvSliceReader(SourceFile file, CountingStream raw, Stream stream, byte delimiter, int chunkSize, int maxField)
    {
        _maxField = maxField;
        _file = raw;
        _source = file;
        _stream = stream;
        _delimiter = delimiter;
        _chunkSize = chunkSize;
        _carry = SourceBuffers<byte>.Rent(chunkSize + 1024 * 1024);
    }

    public IReadOnlyList<string> Columns { get; private set; } = [];

    /// <summary>How far into the file (compressed bytes for .gz) reading has got; for estimates.</summary>
    public long FileBytesRead => _file.BytesRead;

    public static Task<CsvSliceReader> OpenAsync(SourceFile file, char delimiter, long chunkSize, CancellationToken cancellationToken) =>
        OpenAsync(file, delimiter, chunkSize, SourceSpec.DefaultMaxFieldSize, cancellationToken);

    /// <param name="maxFieldSize">How far a quoted field may reach before its opening quote counts as stray (<see cref="SourceSpec.MaxFieldSize"/>).</param>
    public static Task<CsvSliceReader> OpenAsync(SourceFile file, char delimiter, long chunkSize, long maxFieldSize, CancellationToken cancellationToken) =>
        OpenAsync(FileSourceStore.Instance, file, delimiter, chunkSize, maxFieldSize, cancellationToken);

    /// <summary>Streams <paramref name="file"/> from <paramref name="store"/> (a local file, a blob) from start to end.</summary>
    public static async Task<CsvSliceReader> OpenAsync(ISourceStore store, SourceFile file, char delimiter, long chunkSize, long maxFieldSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(file);
        var raw = new CountingStream(await store.OpenReadAsync(file.Path, file.Version, cancellationToken), file.Version is null ? null : file);
        Stream stream = file.Gzip ? new BufferedStream(new GzipSourceStream(raw, file.Path), 1 << 16) : raw;
        var reader = new CsvSliceReader(file, raw, stream, (byte)delimiter, (int)Math.Min(chunkSize, 512L * 1024 * 1024), (int)Math.Min(maxFieldSize, int.MaxValue));
        try
        {
            await reader.ReadHeaderAsync(cancellationToken);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
        return reader;
    }

    private async Task ReadHeaderAsync(CancellationToken cancellationToken)
    {
        int end;
        var newlines = 0;
        var stray = false;
        while ((end = CsvRecordParser.FindRecordEnd(_carry.AsSpan(0, _carryLength), 0, _maxField, _eof, out newlines, out stray)) < 0 && !_eof)
        {
            if (_carryLength == _carry.Length) Grow(_carryLength + 1);
            await FillAsync(Math.Min(_carry.Length, _carryLength + 64 * 1024), cancellationToken);
        }
        if (_carryLength == 0) throw new SourceException($"{_source.Path} is empty: a header row with the column names is required.");
        if (end < 0) end = _carryLength;
        if (stray) throw new MalformedRowException(_source.Path, 1, "the header row is malformed: a quote in it is never closed");
        var start = _carry.AsSpan(0, _carryLength).StartsWith(Utf8Bom) ? Utf8Bom.Length : 0;
        var header = _carry.AsSpan(start, end - start);
        if (header.Length > 0 && header[^1] == (byte)'\r') header = header[..^1];
        var fields = new CsvField[4096];
        var count = CsvRecordParser.Parse(header, _delimiter, fields, out var error);
        if (count < 0) throw new MalformedRowException(_source.Path, 1, "the header row is malformed: " + error);
        if (count > fields.Length) throw new SourceException($"{_source.Path}: the header has {count} columns; at most {fields.Length} are supported.");
        if (SourceText.Problem(header, "header") is { } text) throw new MalformedRowException(_source.Path, 1, "the header row is malformed: " + text);
        var scratch = Array.Empty<byte>();
        var names = new string[count];
        for (var i = 0; i < count; i++) names[i] = Encoding.UTF8.GetString(CsvRecordParser.Value(header, fields[i], ref scratch)).Trim();
        SourceColumns.RejectDuplicates(_source.Path, names);
        Columns = names;
        _nextLine = 2 + newlines;
        var consumed = Math.Min(end + 1, _carryLength);
        Buffer.BlockCopy(_carry, consumed, _carry, 0, _carryLength - consumed);
        _carryLength -= consumed;
    }

    public async IAsyncEnumerable<ISourceChunk> ReadChunksAsync(Func<int, bool> skip, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var seq = 0;
        while (true)
        {
            await FillAsync(_chunkSize, cancellationToken);
            if (_carryLength == 0 && _eof) yield break;
            int cut;
            if (_eof && _carryLength <= _chunkSize)
            {
                cut = _carryLength;
            }
            else
            {
                // Cut after the last whole record within the first chunkSize bytes.
                var window = Math.Min(_carryLength, _chunkSize);
                cut = CsvRecordParser.LastRecordBoundary(_carry.AsSpan(0, window), _maxField, atEnd: _eof && window == _carryLength);
                while (cut == 0)
                {
                    // One record is longer than a chunk: read on until it ends, and make it a chunk of its own.
                    var end = CsvRecordParser.FindRecordEnd(_carry.AsSpan(0, _carryLength), 0, _maxField, _eof, out _, out _);
                    // Stryker disable once Equality: end is never 0 here, a newline at 0 is a boundary LastRecordBoundary found
                    if (end >= 0) { cut = end + 1; break; }
                    if (_eof) { cut = _carryLength; break; }
                    if (_carryLength >= MaxRecordBytes)
                        throw new MalformedRowException(_source.Path, _nextLine, $"a record is longer than {MaxRecordBytes / (1024 * 1024)} MiB without a line break; the file is not CSV with these settings (check the delimiter and the format)");
                    if (_carryLength == _carry.Length) Grow(_carry.Length * 2);
                    // Stryker disable once Linq: reading to the end of the buffer at once finds the same record end, in bigger reads
                    await FillAsync(Math.Min(_carry.Length, _carryLength + 64 * 1024), cancellationToken);
                }
            }

            var next = SourceBuffers<byte>.Rent(_carry.Length);
            var rest = _carryLength - cut;
            Buffer.BlockCopy(_carry, cut, next, 0, rest);
            var chunkBuffer = _carry;
            var chunkLength = cut;
            var firstLine = _nextLine;
            var lines = chunkBuffer.AsSpan(0, chunkLength).Count((byte)'\n');
            _nextLine += lines;
            _carry = next;
            _carryLength = rest;

            // Terminate the last record so every record in a chunk ends with '\n'. There is room: FillAsync sets _eof only
            // after a read into free space returned nothing, and the buffer never fills after that.
            if (_eof && chunkLength > 0 && chunkBuffer[chunkLength - 1] != (byte)'\n') chunkBuffer[chunkLength++] = (byte)'\n';

            var current = seq++;
            if (skip(current))
            {
                // Stryker disable once Statement: returning the buffer to the pool is not observable
                SourceBuffers<byte>.Return(chunkBuffer);
                continue;
            }
            yield return new CsvChunk(current, chunkBuffer, chunkLength, firstLine, _delimiter, Columns.Count, _maxField);
        }
    }

    private async Task FillAsync(int target, CancellationToken cancellationToken)
    {
        target = Math.Min(target, _carry.Length);
        while (!_eof && _carryLength < target)
        {
            // Never read past the target: where chunks are cut must not depend on how much one read returns.
            var read = await _stream.ReadAsync(_carry.AsMemory(_carryLength, target - _carryLength), cancellationToken);
            if (read == 0) _eof = true;
            _carryLength += read;
        }
    }

    private void Grow(int minimum)
    {
        var bigger = SourceBuffers<byte>.Rent(Math.Max(minimum, _carry.Length * 2));
        Buffer.BlockCopy(_carry, 0, bigger, 0, _carryLength);
        SourceBuffers<byte>.Return(_carry);
        _carry = bigger;
    }

    public void Dispose()
    {
        _stream.Dispose();
        if (_carry.Length > 0) SourceBuffers<byte>.Return(_carry);
        _carry = [];
    }
}

/// <summary>Complete CSV records, every one ending with '\n', with the line number of the first.</summary>
internal sealed class CsvChunk(int seq, byte[] buffer, int length, long firstLine, byte delimiter, int columnCount, int maxField) : ISourceChunk
{
    private byte[]? _buffer = buffer;

    public int Seq { get; } = seq;

    public long SourceBytes => length;

    public ValueTask LoadAsync(ColumnBinding binding, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public void Write(ChunkWriter writer)
    {
        var data = _buffer.AsSpan(0, length);
        var binding = writer.Binding;
        var selection = writer.Selection;
        var fields = ArrayPool<CsvField>.Shared.Rent(columnCount + 1);
        var scratch = new byte[1024]; // grows for long quoted values
        // One vectorized pass over the chunk; rows are checked one by one only in a chunk that has a bad byte.
        var checkText = !SourceText.IsValid(data);
        try
        {
            var line = firstLine;
            var position = 0;
            while (position < data.Length)
            {
                // Every record of a chunk ends with '\n', so a quote not closed in it is a stray one (atEnd), and its record
                // ends at the end of its line: a record end is always found.
                var end = CsvRecordParser.FindRecordEnd(data, position, maxField, atEnd: true, out var inside, out var stray);
                var recordLine = line;
                var lines = 1 + inside;
                var record = data[position..end];
                position = end + 1;
                line += lines;
                if (stray)
                {
                    writer.RowsRead++;
                    writer.Malformed(recordLine, $"a quote in it is not closed within {ByteSize.Format(maxField)} (the source's maxFieldSize) or before the end of the file, so the row is taken to end with line {recordLine + inside}", lines);
                    continue;
                }
                if (record.Length > 0 && record[^1] == (byte)'\r') record = record[..^1];
                if (record.IsEmpty) continue; // blank lines carry no row

                writer.RowsRead++;
                if (checkText && SourceText.Problem(record) is { } text) { writer.Malformed(recordLine, text, lines); continue; }
                var count = CsvRecordParser.Parse(record, delimiter, fields.AsSpan(0, columnCount + 1), out var error);
                if (count < 0) { writer.Malformed(recordLine, error! + LinesNote(lines), lines); continue; }
                if (count != columnCount) { writer.Malformed(recordLine, $"has {count} columns, the header has {columnCount}{LinesNote(lines)}", lines); continue; }

                if (fields[binding.Id].Length == 0) { writer.Malformed(recordLine, "its id column is empty", lines); continue; }
                if (!selection.IsMember(CsvRecordParser.Value(record, fields[binding.Segments], ref scratch))) continue;
                if (binding.UpdatedAt >= 0)
                {
                    if (!selection.InWindow(CsvRecordParser.Value(record, fields[binding.UpdatedAt], ref scratch), out var inWindow))
                    {
                        writer.Malformed(recordLine, "its updatedAt value is not an ISO 8601 timestamp", lines);
                        continue;
                    }
                    if (!inWindow) continue;
                }
                var rows = writer.Rows;
                foreach (var column in binding.Output) rows.WriteField(CsvRecordParser.Value(record, fields[column], ref scratch));
                rows.EndRow();
                writer.RowsWritten++;
            }
        }
        finally
        {
            ArrayPool<CsvField>.Shared.Return(fields);
        }
    }

    /// <summary>A record over many lines is usually a stray quote that took the rows after it along.</summary>
    private static string LinesNote(int lines) => lines > 1 ? $" (the row spans {lines} lines: a quote may be misplaced)" : "";

    public void Dispose()
    {
        if (_buffer is null) return;
        SourceBuffers<byte>.Return(_buffer);
        _buffer = null;
    }
}

/// <summary>
/// The store's stream, counting the bytes read from it (compressed bytes for .gz): how far reading has got. For a
/// <paramref name="pinned"/> file it also checks that the stream ends at the length listed: a local file written to
/// after it was opened (a blob's GET is one version) is refused as changed, not read as a longer or shorter snapshot.
/// </summary>
internal sealed class CountingStream(Stream inner, SourceFile? pinned = null) : ReadOnlyWrapperStream(inner)
{
    public long BytesRead { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await Inner.ReadAsync(buffer, cancellationToken);
        return Counted(n, buffer.Length);
    }

    public override int Read(Span<byte> buffer) => Counted(Inner.Read(buffer), buffer.Length);

    private int Counted(int n, int asked)
    {
        BytesRead += n;
        if (pinned is not null && (BytesRead > pinned.Length || (n == 0 && asked > 0 && BytesRead != pinned.Length)))
            throw SourceException.Changed(pinned.Path);
        return n;
    }

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
}
