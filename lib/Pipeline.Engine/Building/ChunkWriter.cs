using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Building;

/// <summary>Where source columns sit in a file, for the columns an export touches.</summary>
public sealed record ColumnBinding(int[] Output, int Id, int Segments, int UpdatedAt, int ColumnCount)
{
    /// <summary>Every column the export reads, each once.</summary>
    public IReadOnlyList<int> Used { get; } = Output.Append(Id).Append(Segments).Append(UpdatedAt).Where(i => i >= 0).Distinct().Order().ToList();

    public static ColumnBinding Create(IReadOnlyList<string> columns, ExportSpec spec, string file)
    {
        int Find(string name, string role)
        {
            for (var i = 0; i < columns.Count; i++)
                if (string.Equals(columns[i], name, StringComparison.Ordinal)) return i;
            var near = columns.FirstOrDefault(c => string.Equals(c, name, StringComparison.OrdinalIgnoreCase));
            throw new SourceException($"{file}: {role} \"{name}\" is not a column of this file{(near is null ? "" : $" (did you mean \"{near}\"?)")}. Its columns are: {string.Join(", ", columns)}.");
        }

        var output = spec.Fields.Select(f => Find(f.Source, $"activation \"{spec.ActivationId}\" field")).ToArray();
        var id = Find(spec.Source.IdColumn, "the id column");
        var segments = Find(spec.Source.SegmentsColumn, "the segments column");
        var updatedAt = spec.Mode == ExportMode.Incremental ? Find(spec.Source.UpdatedAtColumn, "the updatedAt column (needed by incremental mode)") : -1;
        return new ColumnBinding(output, id, segments, updatedAt, columns.Count);
    }
}

/// <summary>What building one chunk produced. LinesSkipped: the source lines the skipped rows covered (a row whose quote ran on covers many).</summary>
public readonly record struct ChunkCounts(long RowsRead, long RowsWritten, long RowsSkipped, string? FirstSkipped, long LinesSkipped = 0);

/// <summary>
/// Per-worker state for turning source rows into output rows: the selection, the row writer, and the
/// malformed-row policy. A chunk calls <see cref="Malformed"/> for a bad row: it throws under
/// "fail", and counts the row under "skip".
/// </summary>
public sealed class ChunkWriter(DelimitedRowWriter rows, RowSelection selection, ColumnBinding binding, MalformedRowPolicy policy, string file)
{
    public DelimitedRowWriter Rows { get; } = rows;
    public RowSelection Selection { get; } = selection;
    public ColumnBinding Binding { get; } = binding;
    public string File { get; } = file;
    public long RowsRead { get; set; }
    public long RowsWritten { get; set; }
    public long RowsSkipped { get; private set; }
    public long LinesSkipped { get; private set; }
    public string? FirstSkipped { get; private set; }

    /// <param name="lines">The physical source lines the row covers (1 unless a quoted field spans lines).</param>
    public void Malformed(long line, string reason, long lines = 1)
    {
        if (policy == MalformedRowPolicy.Fail) throw new MalformedRowException(File, line, reason);
        RowsSkipped++;
        LinesSkipped += lines;
        FirstSkipped ??= $"{File}, line {line}: {reason}";
    }

    public ChunkCounts TakeCounts()
    {
        var c = new ChunkCounts(RowsRead, RowsWritten, RowsSkipped, FirstSkipped, LinesSkipped);
        RowsRead = RowsWritten = RowsSkipped = LinesSkipped = 0;
        FirstSkipped = null;
        return c;
    }
}

/// <summary>A contiguous run of source rows, cut deterministically, so a rebuild yields the same bytes.</summary>
public interface ISourceChunk : IDisposable
{
    int Seq { get; }

    /// <summary>Raw source bytes in the chunk when known (CSV), else 0; for estimates.</summary>
    long SourceBytes { get; }

    /// <summary>Reads what the chunk needs (Parquet decodes its row group here, on the worker); CSV chunks arrive loaded.</summary>
    ValueTask LoadAsync(ColumnBinding binding, CancellationToken cancellationToken);

    /// <summary>Filters and projects the chunk's rows into the writer.</summary>
    void Write(ChunkWriter writer);
}

/// <summary>Reads one slice (a source file) as a sequence of chunks.</summary>
public interface ISliceReader : IDisposable
{
    IReadOnlyList<string> Columns { get; }
    /// <summary>Chunks in order; chunks for which <paramref name="skip"/> is true are read past without being returned.</summary>
    IAsyncEnumerable<ISourceChunk> ReadChunksAsync(Func<int, bool> skip, CancellationToken cancellationToken);
}
