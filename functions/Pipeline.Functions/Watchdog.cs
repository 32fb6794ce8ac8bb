using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Pipeline.Engine.Runs;

namespace Pipeline.Functions;

/// <summary>
/// Every 5 minutes: re-drives unfinished runs with no recorded progress for the config's <c>watchdog.stalledAfter</c>
/// (a lost message, an instance that died mid-stage, a hand-off that never happened). Stage handlers skip recorded
/// work, so a run that was only slow loses nothing.
/// </summary>
public sealed partial class Watchdog(PipelineBackend backend, ILoggerFactory loggers)
{
    /// <summary>Every 5 minutes, at second 30 (off the scheduler's second 0).</summary>
    public const string Schedule = "30 */5 * * * *";

    private readonly ILogger _logger = loggers.CreateLogger<Watchdog>();

    [Function(nameof(Watchdog))]
    public async Task Run([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        var pipeline = await backend.GetAsync(cancellationToken);
        // The published config says how long is stalled; without one, the default (15 minutes).
        var options = (await pipeline.Config.LoadAsync(cancellationToken)).Config?.Watchdog ?? new ExportWatchdogOptions();
        var watchdog = new ExportWatchdog(pipeline.Store, pipeline.Queue, backend.Time, options, loggers.CreateLogger<ExportWatchdog>());
        var redriven = await watchdog.RedriveStalledAsync(null, cancellationToken);
        if (redriven.Count > 0) Log.Redriven(_logger, redriven.Count, string.Join(", ", redriven.Select(r => r.RunId)), options.StalledAfter);
    }

    private static partial class Log
    {
        [LoggerMessage(500, LogLevel.Warning, "Re-drove {Count} run(s) with no progress for {StalledAfter}: {RunIds}")]
        public static partial void Redriven(ILogger logger, int count, string runIds, TimeSpan stalledAfter);
    }
}
