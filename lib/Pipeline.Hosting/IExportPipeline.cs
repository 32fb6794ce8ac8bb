using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Local;

namespace Pipeline.Hosting;

/// <summary>
/// The pipeline as the CLI drives it, on either backend: the embedded default (<see cref="LocalPipeline"/>) or Azure
/// Storage (<see cref="AzurePipeline"/>). The commands are written once against this.
/// </summary>
public interface IExportPipeline : IDisposable
{
    IRunStore Store { get; }

    ExportScheduler Scheduler { get; }

    /// <summary>Rows, bytes and reused chunks handled by this process.</summary>
    ExportProgress Progress { get; }

    /// <summary>
    /// Re-drives stalled runs, starts every due activation and retry, and drives them and every other unfinished run
    /// until this process has nothing left to do. Runs another process drives may come back unfinished: see
    /// <see cref="IsInProgressElsewhere"/>.
    /// </summary>
    Task<IReadOnlyList<ExportRun>> RunDueAsync(IEnumerable<SegmentActivation> activations, CancellationToken cancellationToken);

    /// <summary>Runs one export now (ad hoc) and waits for it.</summary>
    Task<ExportRun> ExportNowAsync(ExportRun run, CancellationToken cancellationToken);

    /// <summary>Runs one slot of an activation now (`run --slot`): retries it if it failed, resumes it if unfinished.</summary>
    Task<ExportRun> RunSlotAsync(SegmentActivation activation, DateTimeOffset slot, CancellationToken cancellationToken);

    /// <summary>Re-runs a failed run now (`retry`) as its next attempt with <paramref name="spec"/>; an unfinished run is resumed.</summary>
    Task<ExportRun> RetryAsync(ExportRun run, ExportSpec spec, CancellationToken cancellationToken);

    /// <summary>Whether an unfinished run returned by the last call is being driven by another process.</summary>
    bool IsInProgressElsewhere(string runId);
}

/// <summary>The embedded default behind <see cref="IExportPipeline"/>: SQLite, a staging folder, the in-process queue, run locks.</summary>
public sealed class LocalExportPipeline(LocalPipeline pipeline) : IExportPipeline
{
    public LocalPipeline Pipeline { get; } = pipeline;

    public IRunStore Store => Pipeline.Store;

    public ExportScheduler Scheduler => Pipeline.Scheduler;

    public ExportProgress Progress => Pipeline.Progress;

    public Task<IReadOnlyList<ExportRun>> RunDueAsync(IEnumerable<SegmentActivation> activations, CancellationToken cancellationToken) =>
        Pipeline.RunDueAsync(activations, cancellationToken);

    public Task<ExportRun> ExportNowAsync(ExportRun run, CancellationToken cancellationToken) => Pipeline.ExportNowAsync(run, cancellationToken);

    public Task<ExportRun> RunSlotAsync(SegmentActivation activation, DateTimeOffset slot, CancellationToken cancellationToken) =>
        Pipeline.RunSlotAsync(activation, slot, cancellationToken);

    public Task<ExportRun> RetryAsync(ExportRun run, ExportSpec spec, CancellationToken cancellationToken) => Pipeline.RetryAsync(run, spec, cancellationToken);

    public bool IsInProgressElsewhere(string runId) => Pipeline.IsInProgressElsewhere(runId);

    public void Dispose() => Pipeline.Dispose();
}
