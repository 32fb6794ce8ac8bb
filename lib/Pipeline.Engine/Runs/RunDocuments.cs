using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Runs;

/// <summary>The source files a run reads, fixed once by PlanExport so every retry reads the same slices.</summary>
public sealed record ExportPlan(IReadOnlyList<SlicePlan> Slices, DateTimeOffset PlannedAt);

/// <summary>One slice of the plan: a source file, with the <paramref name="Version"/> listed when the run planned (its reads are pinned to it; null in plans recorded before versions were).</summary>
public sealed record SlicePlan(int Index, string Path, long Length, SourceFormat Format, bool Gzip, string? Version = null);

/// <summary>A built chunk: its rows are in staging under <see cref="StagingKey"/> (none when it kept no rows).</summary>
public sealed record ChunkRecord(int Slice, int Seq, long RowsRead, long RowsWritten, long RowsSkipped, string? FirstSkipped, long Bytes, string? StagingKey, long LinesSkipped = 0);

/// <summary>
/// Recorded before AssembleFiles starts any upload: the keys it is about to start. An attempt that finds another
/// attempt's intent knows uploads may exist that no assembly records, and aborts them once its own are recorded.
/// </summary>
public sealed record FileStartIntent(string AttemptId, IReadOnlyList<string> Keys);

/// <summary>The delivered files, fixed once by AssembleFiles, upload ids included, so retries continue the same uploads.</summary>
public sealed record AssemblyPlan(IReadOnlyList<FilePlan> Files, long RowsRead, long RowsSkipped, string? FirstSkipped, long LinesSkipped = 0);

/// <summary>One output file: staged pieces in order (header member, then chunks) cut into parts.</summary>
public sealed record FilePlan(int Index, string Key, string UploadId, long Length, long Rows, string Sha256, IReadOnlyList<FileSegment> Segments, long PartSize, int PartCount)
{
    /// <summary>The byte range of a 1-based part.</summary>
    public (long Offset, long Length) PartRange(int partNumber)
    {
        var offset = (partNumber - 1) * PartSize;
        return (offset, Math.Min(PartSize, Length - offset));
    }
}

public sealed record FileSegment(string StagingKey, long Length);

/// <summary>A part delivered for a file of a run.</summary>
public sealed record PartRecord(int File, PartReceipt Receipt);
