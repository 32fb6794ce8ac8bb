using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Runs;

/// <summary>
/// ScheduleExports: finds activations whose slot is due, creates each run idempotently (run id from
/// activation and slot) while advancing the activation's cursor, and sends PlanExport. The same tick
/// retries the latest slot's run when it failed (the activation's retry policy) and re-sends its
/// PlanExport when the tick that created it stopped before sending it.
/// </summary>
public sealed partial class ExportScheduler(IRunStore store, IWorkQueue queue, TimeProvider time, ILogger<ExportScheduler> logger)
{
    /// <summary>Schedules every due activation; returns the runs started (or retried) by this tick.</summary>
    public async Task<IReadOnlyList<ExportRun>> TickAsync(IEnumerable<SegmentActivation> activations, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var started = new List<ExportRun>();
        foreach (var activation in activations.Where(a => a.Enabled))
        {
            var last = await store.GetLastScheduledSlotAsync(activation.Id, cancellationToken);
            var slot = activation.Schedule.DueSlot(now, last);
            if (slot is null)
            {
                // Nothing new is due; the latest slot's run may be waiting for its first message, or for a retry.
                if (last is { } latest && await ReviveAsync(activation, latest, now, cancellationToken) is { } revived) started.Add(revived);
                continue;
            }
            var utcSlot = slot.Value.ToUniversalTime();
            var run = await NewRunAsync(RunIds.ForSlot(activation.Id, utcSlot), activation.Spec, utcSlot, cancellationToken);
            if (!await store.TryScheduleRunAsync(run, last, cancellationToken))
            {
                Log.LostRace(logger, activation.Id, utcSlot);
                continue;
            }
            Log.Scheduled(logger, run.RunId, activation.Id, utcSlot);
            await queue.EnqueueAsync([new PlanExport(run.RunId)], cancellationToken);
            await store.MarkHandedOffAsync(run.RunId, run.Attempt, RunStatus.Planning, cancellationToken);
            started.Add(run);
        }
        return started;
    }

    private async Task<ExportRun?> ReviveAsync(SegmentActivation activation, DateTimeOffset latestSlot, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The run id derives from activation and slot: one point read, no scan of failed runs.
        var run = await store.GetRunAsync(RunIds.ForSlot(activation.Id, latestSlot.ToUniversalTime()), cancellationToken);
        if (run is null) return null;
        if (run.Status == RunStatus.Planning && !run.HandedOff)
        {
            Log.Resending(logger, run.RunId, run.Status.ToString());
            await StageHandOff.SendPendingAsync(store, queue, run, cancellationToken);
            return run;
        }
        if (run.Status == RunStatus.Failed && activation.Retry.Allows(run.Attempt) && run.CompletedAt is { } failedAt
            && now >= failedAt + activation.Retry.DelayAfter(run.Attempt))
            return await RetryAsync(run, activation.Spec, cancellationToken);
        return null;
    }

    /// <summary>
    /// Starts the next attempt of a failed run now: same run id, slot and incremental window (so a full run writes the
    /// same files and manifest key), with <paramref name="spec"/> (the activation as configured now, so a fixed config
    /// takes effect). Null when the run is not failed or another retry won.
    /// </summary>
    public async Task<ExportRun?> RetryAsync(ExportRun failed, ExportSpec spec, CancellationToken cancellationToken)
    {
        if (failed.Status != RunStatus.Failed) return null;
        var next = failed with
        {
            Spec = spec,
            Attempt = failed.Attempt + 1,
            Status = RunStatus.Planning,
            Error = null,
            CompletedAt = null,
            ManifestKey = null,
            LastProgressAt = time.GetUtcNow(),
            HandedOff = false,
        };
        if (!await store.TryRestartRunAsync(next, cancellationToken)) return null;
        Log.Retrying(logger, next.RunId, next.Attempt, failed.Error ?? "");
        await queue.EnqueueAsync([new PlanExport(next.RunId) { Attempt = next.Attempt }], cancellationToken);
        await store.MarkHandedOffAsync(next.RunId, next.Attempt, RunStatus.Planning, cancellationToken);
        return next;
    }

    /// <summary>
    /// Runs one slot of an activation now, at an operator's request: a failed run of that slot is retried, an unfinished
    /// or succeeded one is returned as it is, and a new one is created with its window fixed now. The caller checks that
    /// <paramref name="slot"/> is a slot of the schedule.
    /// </summary>
    public async Task<ExportRun> StartSlotAsync(SegmentActivation activation, DateTimeOffset slot, CancellationToken cancellationToken)
    {
        var utc = slot.ToUniversalTime();
        var runId = RunIds.ForSlot(activation.Id, utc);
        var existing = await store.GetRunAsync(runId, cancellationToken);
        if (existing is { Status: RunStatus.Failed })
            return await RetryAsync(existing, activation.Spec, cancellationToken) ?? (await store.GetRunAsync(runId, cancellationToken))!;
        if (existing is not null) return existing;
        var stored = await store.CreateRunIfAbsentAsync(await NewRunAsync(runId, activation.Spec, utc, cancellationToken), cancellationToken);
        if (stored is { Status: RunStatus.Planning, HandedOff: false })
        {
            Log.Scheduled(logger, stored.RunId, activation.Id, utc);
            await StageHandOff.SendPendingAsync(store, queue, stored, cancellationToken);
        }
        return stored;
    }

    /// <summary>A run record for a slot, with the incremental window fixed now so a resumed run reads the same rows.</summary>
    public async Task<ExportRun> NewRunAsync(string runId, ExportSpec spec, DateTimeOffset slot, CancellationToken cancellationToken)
    {
        DateTimeOffset? from = null, to = null;
        if (spec.Mode == ExportMode.Incremental)
        {
            from = await store.GetWatermarkAsync(spec.ActivationId, cancellationToken);
            to = slot;
        }
        return new ExportRun
        {
            RunId = runId,
            ActivationId = spec.ActivationId,
            Slot = slot,
            Spec = spec,
            WatermarkFrom = from,
            WatermarkTo = to,
            CreatedAt = time.GetUtcNow(),
            LastProgressAt = time.GetUtcNow(),
        };
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Information, "Scheduled run {RunId} for {ActivationId}, slot {Slot:u}")]
        public static partial void Scheduled(ILogger logger, string runId, string activationId, DateTimeOffset slot);

        [LoggerMessage(21, LogLevel.Debug, "Another scheduler already took {ActivationId} slot {Slot:u}")]
        public static partial void LostRace(ILogger logger, string activationId, DateTimeOffset slot);

        [LoggerMessage(22, LogLevel.Warning, "Run {RunId} is at {Status} but its messages were never sent: sending them now")]
        public static partial void Resending(ILogger logger, string runId, string status);

        [LoggerMessage(23, LogLevel.Information, "Retrying run {RunId} (attempt {Attempt}) after: {Error}")]
        public static partial void Retrying(ILogger logger, string runId, int attempt, string error);
    }
}
