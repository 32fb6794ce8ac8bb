using System.Globalization;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Building;

/// <summary>
/// Under "onMalformedRow": "skip", a run still fails when it skipped too much: a truncated export, a file in another
/// encoding or a stray quote looks like many malformed rows, and a run that drops a large part of the audience is not
/// a success. Counted in source lines, so a row whose quote swallowed the 1,960 rows after it counts 1,961.
/// </summary>
public static class SkippedRowLimit
{
    /// <summary>The run-wide check, at assembly, when every slice is counted.</summary>
    public static void Check(ExportSpec spec, long rowsRead, long rowsSkipped, long linesSkipped, string? firstSkipped)
    {
        if (spec.OnMalformedRow != MalformedRowPolicy.Skip) return;
        linesSkipped = Math.Max(linesSkipped, rowsSkipped);
        // Lines the source had: every row read is one line, except that skipped rows cover linesSkipped lines.
        var lines = Math.Max(1, rowsRead - rowsSkipped + linesSkipped);
        if (linesSkipped > spec.MaxSkippedRows) throw Over(spec, linesSkipped, $"more than maxSkippedRows ({spec.MaxSkippedRows.ToString("N0", CultureInfo.InvariantCulture)})", firstSkipped);
        if (linesSkipped > spec.MaxSkippedFraction * lines)
            throw Over(spec, linesSkipped, $"{(100.0 * linesSkipped / lines).ToString("0.0", CultureInfo.InvariantCulture)}% of {lines.ToString("N0", CultureInfo.InvariantCulture)} lines, more than maxSkippedFraction ({spec.MaxSkippedFraction.ToString(CultureInfo.InvariantCulture)})", firstSkipped);
    }

    /// <summary>The early check while a slice is built: its own count alone may already be over the limit.</summary>
    public static void CheckCount(ExportSpec spec, long linesSkipped, string? firstSkipped)
    {
        if (spec.OnMalformedRow == MalformedRowPolicy.Skip && linesSkipped > spec.MaxSkippedRows)
            // Chunks finish in any order, so the count is a lower bound and the row named is one of them, not the first.
            throw Over(spec, linesSkipped, $"more than maxSkippedRows ({spec.MaxSkippedRows.ToString("N0", CultureInfo.InvariantCulture)})", firstSkipped, early: true);
    }

    private static SourceException Over(ExportSpec spec, long linesSkipped, string limit, string? firstSkipped, bool early = false) =>
        new($"Activation \"{spec.ActivationId}\" skipped {(early ? "at least " : "")}{linesSkipped.ToString("N0", CultureInfo.InvariantCulture)} source lines as malformed, {limit}; " +
            $"the source looks damaged, so nothing is published ({(early ? "one of them" : "first")}: {firstSkipped ?? "unknown"}). Fix the source, or raise \"maxSkippedRows\" / \"maxSkippedFraction\" on the activation if these rows really are to be dropped.");
}
