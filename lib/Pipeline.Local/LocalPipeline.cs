using Microsoft.Extensions.Logging;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Local;

/// <summary>
/// The whole pipeline in one process, on the embedded default: SQLite state, a staging folder,
/// an in-process queue and local-folder destinations. The CLI's `run` and `export` use it; the
/// stages are the same ones the Functions app runs.
/// </summary>
public sealed class LocalPipeline
{
    private readonly InProcessWorkQueue _queue = new();
    private readonly ILoggerFactory _loggers;

    private LocalPipeline(IRunStore store, IStagingStore staging, IDestinationFactory destinations, TimeProvider time, ILoggerFactory loggers, int parallelism)
    {
        Store = store;
        _loggers = loggers;
        Concurrency = Math.Max(2, parallelism > 0 ? parallelism : Environment.ProcessorCount);
        Stages = new ExportStages(store, staging, destinations, _queue, time, loggers.CreateLogger<ExportStages>(), new ExportProgress(), parallelism);
        Scheduler = new ExportScheduler(store, _queue, time, loggers.CreateLogger<ExportScheduler>());
    }

    public IRunStore Store { get; }
    public ExportStages Stages { get; }
    public ExportScheduler Scheduler { get; }
    public ExportProgress Progress => Stages.Progress;
    public int Concurrency { get; }

    public static async Task<LocalPipeline> OpenAsync(string statePath, string stagingPath, TimeProvider time, ILoggerFactory loggers,
        int parallelism = 0, IDestinationFactory? destinations = null, CancellationToken cancellationToken = default)
    {
        var store = await SqliteRunStore.OpenAsync(statePath, cancellationToken);
        return new LocalPipeline(store, new FolderStagingStore(stagingPath), destinations ?? new LocalDestinationFactory(), time, loggers, parallelism);
    }

    /// <summary>Finishes runs a crash left behind, starts every due activation, and waits until all of them end.</summary>
    public async Task<IReadOnlyList<ExportRun>> RunDueAsync(IEnumerable<SegmentActivation> activations, CancellationToken cancellationToken)
    {
        var resumed = await Scheduler.ResumeUnfinishedAsync(cancellationToken);
        var started = await Scheduler.TickAsync(activations, cancellationToken);
        await DrainAsync(cancellationToken);
        return await ReloadAsync(resumed.Concat(started), cancellationToken);
    }

    /// <summary>Runs one export now (ad hoc) and waits for it.</summary>
    public async Task<ExportRun> ExportNowAsync(ExportRun run, CancellationToken cancellationToken)
    {
        var stored = await Store.CreateRunIfAbsentAsync(run, cancellationToken);
        if (!stored.IsFinished) await _queue.EnqueueAsync([new PlanExport(run.RunId)], cancellationToken);
        await DrainAsync(cancellationToken);
        return (await Store.GetRunAsync(run.RunId, cancellationToken))!;
    }

    /// <summary>Processes queued messages until none are left; a message that keeps failing fails its run.</summary>
    public Task DrainAsync(CancellationToken cancellationToken, Func<StageMessage, CancellationToken, Task>? handler = null) =>
        _queue.DrainAsync(handler ?? Stages.HandleAsync,
            (message, error) => Stages.FailRunAsync(message.RunId, $"{message.GetType().Name} failed {InProcessWorkQueue.MaxAttempts} times: {error.Message}", CancellationToken.None),
            Concurrency, cancellationToken);

    public Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken) => _queue.EnqueueAsync(messages, cancellationToken);

    private async Task<IReadOnlyList<ExportRun>> ReloadAsync(IEnumerable<ExportRun> runs, CancellationToken cancellationToken)
    {
        var result = new List<ExportRun>();
        foreach (var id in runs.Select(r => r.RunId).Distinct())
            result.Add((await Store.GetRunAsync(id, cancellationToken))!);
        return result;
    }
}
