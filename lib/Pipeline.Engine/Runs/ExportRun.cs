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
    /// <summary>1 for the first try; a retry of a failed run is the next attempt of the same run (same id, slot and window).</summary>
    public int Attempt { get; init; } = 1;
    /// <summary>When a stage last recorded work for this run; the watchdog re-drives runs that stay quiet too long.</summary>
    public DateTimeOffset? LastProgressAt { get; init; }
    /// <summary>Whether the messages of the current status were sent; false between a status change and its enqueue.</summary>
    public bool HandedOff { get; init; }

    public bool IsFinished => Status is RunStatus.Succeeded or RunStatus.Failed;

    /// <summary>
    /// Where this attempt's progress (documents, chunks, parts) and staging live: each attempt has its own, so late
    /// messages of an earlier attempt can never count towards, or overwrite, the new one.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string ProgressId => ProgressIdFor(RunId, Attempt);

    public static string ProgressIdFor(string runId, int attempt) => attempt <= 1 ? runId : $"{runId}-attempt{attempt}";
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
