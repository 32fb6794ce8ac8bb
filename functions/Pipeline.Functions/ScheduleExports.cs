using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;

namespace Pipeline.Functions;

/// <summary>
/// Every minute (UTC; each activation's own time zone is evaluated by the engine, as Flex has no WEBSITE_TIME_ZONE):
/// loads the published config, creates due runs idempotently and queues their PlanExport, and retries failed runs
/// by their activation's policy. A config that fails to load is reported and the last good one stays in force; an
/// activation that fails to schedule is reported and the others are scheduled all the same.
/// </summary>
public sealed partial class ScheduleExports(PipelineBackend backend, ILogger<ScheduleExports> logger)
{
    /// <summary>Second 0 of every minute.</summary>
    public const string Schedule = "0 * * * * *";

    [Function(nameof(ScheduleExports))]
    public async Task Run([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(timer);
        var pipeline = await backend.GetAsync(cancellationToken);
        if (timer.IsPastDue) Log.PastDue(logger);
        var load = await pipeline.Config.LoadAsync(cancellationToken);
        if (load.Problem is { } problem)
        {
            if (load.Config is null) Log.NoConfig(logger, pipeline.Config.Location, problem);
            else Log.KeepingLastGood(logger, pipeline.Config.Location, problem);
        }
        if (load.Config is not { } config) return;
        if (backend.IsNewConfig(config)) WarnAboutIgnoredSecrets(config);

        var failed = new List<string>();
        // One activation at a time: an error in one (its run state, its queue send) leaves the others scheduled.
        foreach (var activation in config.Activations.Where(a => a.Enabled))
        {
            using var scope = logger.BeginScope(new Dictionary<string, object> { ["ActivationId"] = activation.Id });
            try
            {
                await pipeline.Scheduler.TickAsync([activation], cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                failed.Add(activation.Id);
                Log.ActivationFailed(logger, e, activation.Id, e.Message);
            }
        }
        // Failing the invocation puts the tick in the app's failure metrics; the next tick tries these activations again.
        if (failed.Count > 0)
            throw new InvalidOperationException(
                $"{failed.Count} of {config.Activations.Count(a => a.Enabled)} activations could not be scheduled this minute ({string.Join(", ", failed)}); " +
                "the errors above say why, and the next tick tries again.");
    }

    private void WarnAboutIgnoredSecrets(PipelineConfig config)
    {
        // The app's secrets come from its settings (Pipeline__KeyVaultUri, PIPELINE_SECRET_*): a file on a laptop is not here.
        if (config.Secrets.File is { } file) Log.SecretsFileIgnored(logger, file);
        if (config.Secrets.KeyVaultUri is { } vault
            && !string.Equals(vault.TrimEnd('/'), backend.Settings.KeyVaultUri?.ToString().TrimEnd('/'), StringComparison.OrdinalIgnoreCase))
            Log.VaultIgnored(logger, vault, backend.Settings.KeyVaultUri?.ToString() ?? "(none)");
    }

    private static partial class Log
    {
        [LoggerMessage(400, LogLevel.Warning, "The schedule timer fired late (past due); due slots are caught up now")]
        public static partial void PastDue(ILogger logger);

        [LoggerMessage(401, LogLevel.Error, "No activations are scheduled: no config has loaded from {ConfigBlob} since the app started. {Problem}")]
        public static partial void NoConfig(ILogger logger, string configBlob, string problem);

        [LoggerMessage(402, LogLevel.Error, "The published config {ConfigBlob} was not applied; the last good one stays in force. {Problem}")]
        public static partial void KeepingLastGood(ILogger logger, string configBlob, string problem);

        [LoggerMessage(403, LogLevel.Error, "Activation {ActivationId} could not be scheduled this minute (the others were): {Error}")]
        public static partial void ActivationFailed(ILogger logger, Exception exception, string activationId, string error);

        [LoggerMessage(404, LogLevel.Warning,
            "The published config names secrets file {SecretsFile}, which the Functions app does not read; it reads Key Vault (Pipeline__KeyVaultUri) and PIPELINE_SECRET_* app settings")]
        public static partial void SecretsFileIgnored(ILogger logger, string secretsFile);

        [LoggerMessage(405, LogLevel.Warning,
            "The published config names Key Vault {ConfigVault}, but the app reads secrets from {AppVault} (its Pipeline__KeyVaultUri setting); make them the same vault")]
        public static partial void VaultIgnored(ILogger logger, string configVault, string appVault);
    }
}
