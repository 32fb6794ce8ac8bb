using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Runs;

/// <summary>
/// The messages a run waits for in its current status, from recorded state: what a crash between a status change
/// and its enqueue lost, what the watchdog re-sends, and what `run` sends for runs it resumes.
/// </summary>
public static class StageHandOff
{
    /// <summary>The status a stage's message expects, and the one its hand-off moves the run to.</summary>
    public static (RunStatus Expects, RunStatus HandsOffTo) StatusesOf(StageMessage message) => message switch
    {
        PlanExport => (RunStatus.Planning, RunStatus.Building),
        BuildSlice => (RunStatus.Building, RunStatus.Assembling),
        AssembleFiles => (RunStatus.Assembling, RunStatus.Uploading),
        UploadPart => (RunStatus.Uploading, RunStatus.Completing),
        CompleteExport => (RunStatus.Completing, RunStatus.Succeeded),
        _ => throw new ArgumentException($"Unknown stage message {message.GetType().Name}.", nameof(message)),
    };

    /// <summary>Every message the run's status still needs; stage handlers skip work already recorded.</summary>
    public static async Task<IReadOnlyCollection<StageMessage>> PendingAsync(IRunStore store, ExportRun run, CancellationToken cancellationToken)
    {
        var attempt = run.Attempt;
        switch (run.Status)
        {
            case RunStatus.Planning:
                return [new PlanExport(run.RunId) { Attempt = attempt }];
            case RunStatus.Building:
            {
                var plan = await store.GetDocumentAsync<ExportPlan>(run.ProgressId, ExportStages.Documents.Plan, cancellationToken);
                if (plan is null) return [];
                var done = await store.ListDoneSlicesAsync(run.ProgressId, cancellationToken);
                var pending = plan.Slices.Where(s => !done.Contains(s.Index)).Select(s => (StageMessage)new BuildSlice(run.RunId, s.Index) { Attempt = attempt }).ToList();
                // All built but the hand-off was lost: any slice message repeats the "last one finishes" check.
                return pending.Count > 0 ? pending : [new BuildSlice(run.RunId, 0) { Attempt = attempt }];
            }
            case RunStatus.Assembling:
                return [new AssembleFiles(run.RunId) { Attempt = attempt }];
            case RunStatus.Uploading:
            {
                var assembly = await store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, cancellationToken);
                if (assembly is null) return [];
                var recorded = (await store.ListPartsAsync(run.ProgressId, cancellationToken)).Select(p => (p.File, p.Receipt.PartNumber)).ToHashSet();
                var pending = assembly.Files.SelectMany(f => Enumerable.Range(1, f.PartCount).Select(p => (f.Index, p)))
                    .Where(p => !recorded.Contains(p)).Select(p => (StageMessage)new UploadPart(run.RunId, p.Index, p.p) { Attempt = attempt }).ToList();
                return pending.Count > 0 ? pending : [new UploadPart(run.RunId, 1, 1) { Attempt = attempt }];
            }
            case RunStatus.Completing:
                return [new CompleteExport(run.RunId) { Attempt = attempt }];
            default:
                return [];
        }
    }

    /// <summary>Sends what the run's status needs and records the hand-off.</summary>
    public static async Task<IReadOnlyCollection<StageMessage>> SendPendingAsync(IRunStore store, IWorkQueue queue, ExportRun run, CancellationToken cancellationToken)
    {
        var messages = await PendingAsync(store, run, cancellationToken);
        if (messages.Count > 0) await queue.EnqueueAsync(messages, cancellationToken);
        await store.MarkHandedOffAsync(run.RunId, run.Attempt, run.Status, cancellationToken);
        return messages;
    }
}
