using System.Text.Json;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Manifests;

/// <summary>
/// Written last, after every file is complete: a consumer that sees the manifest can trust every file it lists.
/// </summary>
public sealed record RunManifest
{
    public int Version { get; init; } = 1;
    public required string RunId { get; init; }
    public required string ActivationId { get; init; }
    public required string SegmentId { get; init; }
    public required string Mode { get; init; }
    public required DateTimeOffset ScheduledFor { get; init; }
    public DateTimeOffset? UpdatedAfter { get; init; }
    public DateTimeOffset? UpdatedUpTo { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset CompletedAt { get; init; }
    public required ManifestFormat Format { get; init; }
    public required IReadOnlyList<ManifestColumn> Schema { get; init; }
    public required IReadOnlyList<ManifestFile> Files { get; init; }
    public required ManifestTotals Totals { get; init; }
    /// <summary>Things a consumer should know although the run succeeded (a full export that matched no row).</summary>
    public IReadOnlyList<string>? Warnings { get; init; }

    /// <summary>Why a finished run deserves a second look, or null: a full export of no row is almost always a wrong segment id.</summary>
    public static string? EmptyAudienceWarning(ExportSpec spec, long rowsExported, long rowsRead) =>
        spec.Mode == ExportMode.Full && rowsExported == 0
            ? $"Segment {spec.SegmentId} matched no row of the {rowsRead.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} read, so every file holds only a header. " +
              $"Check the segment id against the source column {spec.Source.SegmentsColumn}."
            : null;

    public static RunManifest Create(ExportRun run, AssemblyPlan assembly, DateTimeOffset completedAt)
    {
        var spec = run.Spec;
        var rows = assembly.Files.Sum(f => f.Rows);
        return new RunManifest
        {
            RunId = run.RunId,
            ActivationId = run.ActivationId,
            SegmentId = spec.SegmentId,
            Mode = spec.Mode == ExportMode.Incremental ? "incremental" : "full",
            ScheduledFor = run.Slot,
            UpdatedAfter = run.WatermarkFrom,
            UpdatedUpTo = spec.Mode == ExportMode.Incremental ? run.WatermarkTo : null,
            StartedAt = run.CreatedAt,
            CompletedAt = completedAt,
            Format = new ManifestFormat(spec.Output.Format.ToString().ToLowerInvariant(), spec.Output.Compression.ToString().ToLowerInvariant(),
                spec.Output.Delimiter.ToString(), spec.Output.Header, spec.Output.LineEnding == "\n" ? "lf" : "crlf", "utf-8", spec.Output.FormulaProtection),
            Schema = spec.Fields.Select(f => new ManifestColumn(f.Header, f.Source)).ToList(),
            Files = assembly.Files.Select(f => new ManifestFile(f.Key, f.Rows, f.Length, f.Sha256)).ToList(),
            Totals = new ManifestTotals(assembly.Files.Count, rows, assembly.Files.Sum(f => f.Length),
                assembly.RowsRead, assembly.RowsSkipped, Math.Max(assembly.LinesSkipped, assembly.RowsSkipped), assembly.FirstSkipped),
            Warnings = EmptyAudienceWarning(spec, rows, assembly.RowsRead) is { } empty ? [empty] : null,
        };
    }

    public byte[] ToUtf8() => EngineJson.SerializeIndented(this);

    public static string KeyFor(ExportRun run) =>
        run.Spec.Destination.Prefix + $"{run.ActivationId}_{run.Slot.UtcDateTime:yyyyMMdd'T'HHmmss'Z'}.manifest.json";
}

public sealed record ManifestFormat(string Format, string Compression, string Delimiter, bool Header, string LineEnding, string Encoding, bool FormulaProtection);

public sealed record ManifestColumn(string Header, string Source);

public sealed record ManifestFile(string Key, long Rows, long Bytes, string Sha256);

/// <summary>LinesSkipped: the source lines the skipped rows covered; more than RowsSkipped when a quoted field ran over lines.</summary>
public sealed record ManifestTotals(int Files, long Rows, long Bytes, long RowsRead, long RowsSkipped, long LinesSkipped, string? FirstSkippedRow);
