using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Runs;

/// <summary>
/// ScheduleExports: finds activations whose slot is due, creates each run idempotently (run id from
/// activation and slot) while advancing the activation's cursor, and sends PlanExport. Also re-sends
/// the next message for runs that a crash left half-way.
/// </summary>
public sealed partial class ExportScheduler(IRunStore store, IWorkQueue queue, TimeProvider time, ILogger<ExportScheduler> logger)
{
    // A `once` too far in the past is reported the first time a process sees it, not on every tick.
    private readonly HashSet<string> _warnedExpired = new(StringComparer.Ordinal);

    /// <summary>Schedules every due activation; returns the runs started by this tick.</summary>
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
                if (last is null && activation.Schedule.IsExpiredOnce(now) && _warnedExpired.Add(activation.Id))
                    Log.OnceExpired(logger, activation.Id, activation.Schedule.FormatSlot(activation.Schedule.Once!.Value));
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
            started.Add(run);
        }
        return started;
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
        };
    }

    /// <summary>Sends the message each unfinished run is waiting for; stage handlers skip work already recorded.</summary>
    public async Task<IReadOnlyList<ExportRun>> ResumeUnfinishedAsync(CancellationToken cancellationToken)
    {
        var runs = await store.ListUnfinishedRunsAsync(cancellationToken);
        foreach (var run in runs)
        {
            var messages = await NextMessagesAsync(run, cancellationToken);
            Log.Resuming(logger, run.RunId, run.Status.ToString());
            await queue.EnqueueAsync(messages, cancellationToken);
        }
        return runs;
    }

    private async Task<IReadOnlyCollection<StageMessage>> NextMessagesAsync(ExportRun run, CancellationToken cancellationToken)
    {
        switch (run.Status)
        {
            case RunStatus.Planning:
                return [new PlanExport(run.RunId)];
            case RunStatus.Building:
            {
                var plan = await store.GetDocumentAsync<ExportPlan>(run.RunId, ExportStages.Documents.Plan, cancellationToken);
                if (plan is null) return [];
                var done = await store.ListDoneSlicesAsync(run.RunId, cancellationToken);
                var pending = plan.Slices.Where(s => !done.Contains(s.Index)).Select(s => (StageMessage)new BuildSlice(run.RunId, s.Index)).ToList();
                // All built but the hand-off was lost: any slice message repeats the "last one finishes" check.
                return pending.Count > 0 ? pending : [new BuildSlice(run.RunId, 0)];
            }
            case RunStatus.Assembling:
                return [new AssembleFiles(run.RunId)];
            case RunStatus.Uploading:
            {
                var assembly = await store.GetDocumentAsync<AssemblyPlan>(run.RunId, ExportStages.Documents.Assembly, cancellationToken);
                if (assembly is null) return [];
                var recorded = (await store.ListPartsAsync(run.RunId, cancellationToken)).Select(p => (p.File, p.Receipt.PartNumber)).ToHashSet();
                var pending = assembly.Files.SelectMany(f => Enumerable.Range(1, f.PartCount).Select(p => (f.Index, p)))
                    .Where(p => !recorded.Contains(p)).Select(p => (StageMessage)new UploadPart(run.RunId, p.Index, p.p)).ToList();
                return pending.Count > 0 ? pending : [new UploadPart(run.RunId, 1, 1)];
            }
            case RunStatus.Completing:
                return [new CompleteExport(run.RunId)];
            default:
                return [];
        }
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Information, "Scheduled run {RunId} for {ActivationId}, slot {Slot:u}")]
        public static partial void Scheduled(ILogger logger, string runId, string activationId, DateTimeOffset slot);

        [LoggerMessage(21, LogLevel.Debug, "Another scheduler already took {ActivationId} slot {Slot:u}")]
        public static partial void LostRace(ILogger logger, string activationId, DateTimeOffset slot);

        [LoggerMessage(22, LogLevel.Information, "Resuming run {RunId} at stage {Status}")]
        public static partial void Resuming(ILogger logger, string runId, string status);

        [LoggerMessage(23, LogLevel.Warning, "Activation {ActivationId} is skipped: its \"once\" slot {Slot} is more than 24 hours in the past. Set a future time, or export now with `pipeline export`.")]
        public static partial void OnceExpired(ILogger logger, string activationId, string slot);
    }
}
