using Microsoft.Extensions.Logging;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Runs;

/// <summary>How long a run may go without recorded progress before the watchdog re-drives it.</summary>
public sealed record ExportWatchdogOptions
{
    public static readonly TimeSpan MinStalledAfter = TimeSpan.FromMinutes(1);

    public TimeSpan StalledAfter { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Well above the stages' heartbeat (<see cref="ExportStages.ProgressInterval"/>), so a working run never looks stalled.</summary>
    public ExportWatchdogOptions Validate() => StalledAfter >= MinStalledAfter ? this
        : throw new ArgumentOutOfRangeException(nameof(StalledAfter), StalledAfter, $"must be at least {MinStalledAfter.TotalMinutes:0} minute.");
}

/// <summary>
/// Re-drives unfinished runs that nobody is driving: a lost message, a crashed instance, a hand-off that never
/// happened. It re-sends what the run's status still needs; stage handlers skip work already recorded, so a run
/// that was only slow loses nothing. The Functions `Watchdog` timer calls it; `run` calls it on every tick.
/// </summary>
public sealed partial class ExportWatchdog(IRunStore store, IWorkQueue queue, TimeProvider time, ExportWatchdogOptions options, ILogger<ExportWatchdog> logger)
{
    private readonly ExportWatchdogOptions _options = options.Validate();

    /// <summary>
    /// Re-sends the pending messages of every unfinished run with no progress for <see cref="ExportWatchdogOptions.StalledAfter"/>,
    /// or that <paramref name="abandoned"/> says has no driver (locally: the process that ran it has ended). Returns those runs.
    /// </summary>
    public async Task<IReadOnlyList<ExportRun>> RedriveStalledAsync(Func<ExportRun, bool>? abandoned, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var redriven = new List<ExportRun>();
        foreach (var run in await store.ListUnfinishedRunsAsync(cancellationToken))
        {
            var quiet = now - (run.LastProgressAt ?? run.CreatedAt);
            if (!(abandoned?.Invoke(run) ?? false) && quiet < _options.StalledAfter) continue;
            // Recorded first, so the next watchdog waits a full StalledAfter before sending them again.
            await store.TouchRunAsync(run.RunId, run.Attempt, now, cancellationToken);
            Log.Redriving(logger, run.RunId, run.Status.ToString(), quiet);
            await StageHandOff.SendPendingAsync(store, queue, run, cancellationToken);
            redriven.Add(run);
        }
        return redriven;
    }

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Information, "Re-driving run {RunId} at stage {Status} (no progress for {Quiet})")]
        public static partial void Redriving(ILogger logger, string runId, string status, TimeSpan quiet);
    }
}
