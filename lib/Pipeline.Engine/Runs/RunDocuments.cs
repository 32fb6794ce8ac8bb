using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Runs;

/// <summary>The source files a run reads, fixed once by PlanExport so every retry reads the same slices.</summary>
public sealed record ExportPlan(IReadOnlyList<SlicePlan> Slices, DateTimeOffset PlannedAt);

public sealed record SlicePlan(int Index, string Path, long Length, SourceFormat Format, bool Gzip);

/// <summary>A built chunk: its rows are in staging under <see cref="StagingKey"/> (none when it kept no rows).</summary>
public sealed record ChunkRecord(int Slice, int Seq, long RowsRead, long RowsWritten, long RowsSkipped, string? FirstSkipped, long Bytes, string? StagingKey, long LinesSkipped = 0);

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
