using System.Security.Cryptography;
using System.Text;
using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Runs;

/// <summary>Where a run is in its stages. Each stage moves it forward exactly once (optimistic concurrency).</summary>
public enum RunStatus { Planning, Building, Assembling, Uploading, Completing, Succeeded, Failed }

/// <summary>One export of one activation for one scheduled slot (or one ad-hoc export).</summary>
public sealed record ExportRun
{
    public required string RunId { get; init; }
    public required string ActivationId { get; init; }
    /// <summary>The slot this run is for; names files and bounds the incremental window.</summary>
    public required DateTimeOffset Slot { get; init; }
    public RunStatus Status { get; init; } = RunStatus.Planning;
    public required ExportSpec Spec { get; init; }
    /// <summary>Incremental exports keep rows updated after this (null: full backfill).</summary>
    public DateTimeOffset? WatermarkFrom { get; init; }
    /// <summary>...and up to this; stored as the activation's watermark when the run succeeds.</summary>
    public DateTimeOffset? WatermarkTo { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public string? Error { get; init; }
    public string? ManifestKey { get; init; }

    public bool IsFinished => Status is RunStatus.Succeeded or RunStatus.Failed;
}

public static class RunIds
{
    /// <summary>
    /// Deterministic: the same activation and slot always give the same id, so a scheduler that fires
    /// twice, or restarts, finds the existing run instead of starting a second one.
    /// </summary>
    public static string ForSlot(string activationId, DateTimeOffset slot)
    {
        var utc = slot.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{activationId}|{utc}"));
        return $"{activationId}-{utc}-{Convert.ToHexStringLower(hash)[..8]}";
    }

    /// <summary>An ad-hoc export is its own run: its id comes from what it exports and when it was asked for.</summary>
    public static string ForAdHoc(ExportSpec spec, DateTimeOffset requestedAt)
    {
        var utc = requestedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(EngineJson.Serialize(spec) + "|" + utc));
        return $"adhoc-{utc}-{Convert.ToHexStringLower(hash)[..8]}";
    }
}
