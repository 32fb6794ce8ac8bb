using Pipeline.Engine.Scheduling;

namespace Pipeline.Engine.Configuration;

/// <summary>A segment activation: which members to send where, in which shape, and when.</summary>
public sealed record SegmentActivation(string Id, bool Enabled, ExportSpec Spec, ExportSchedule Schedule)
{
    /// <summary>How a failed scheduled run of this activation is retried.</summary>
    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;
}

/// <summary>A loaded, validated pipeline.json. Relative paths are already resolved against the file's folder.</summary>
public sealed record PipelineConfig
{
    public required string FilePath { get; init; }
    /// <summary>SQLite file holding schedules, runs, chunk and part state.</summary>
    public required string StatePath { get; init; }
    /// <summary>Folder where built chunks wait until their file is delivered.</summary>
    public required string StagingPath { get; init; }
    public required IReadOnlyDictionary<string, SourceSpec> Sources { get; init; }
    public required IReadOnlyDictionary<string, DestinationSpec> Destinations { get; init; }
    public required IReadOnlyList<SegmentActivation> Activations { get; init; }
    public SecretsSpec Secrets { get; init; } = new();
    /// <summary>When an unfinished run counts as stalled and is re-driven.</summary>
    public Pipeline.Engine.Runs.ExportWatchdogOptions Watchdog { get; init; } = new();

    public SegmentActivation? FindActivation(string id) => Activations.FirstOrDefault(a => a.Id == id);
}

/// <summary>Where named secrets come from. Environment variables always work (PIPELINE_SECRET_NAME).</summary>
public sealed record SecretsSpec
{
    /// <summary>A JSON file of {"name": "value"}, kept out of git (see README).</summary>
    public string? File { get; init; }
    /// <summary>Azure Key Vault, e.g. https://my-vault.vault.azure.net/.</summary>
    public string? KeyVaultUri { get; init; }
}
