using Microsoft.Extensions.Logging;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Local;

/// <summary>
/// The whole pipeline in one process, on the embedded default: SQLite state, a staging folder,
/// an in-process queue and local-folder destinations. The CLI's `run` and `export` use it; the
/// stages are the same ones the Functions app runs. Several processes may share one state file:
/// each works only on runs whose lock it holds (<see cref="RunLocks"/>).
/// </summary>
public sealed class LocalPipeline : IDisposable
{
    private readonly InProcessWorkQueue _queue = new();
    private readonly RunLocks _locks;
    private readonly HashSet<string> _elsewhere = new(StringComparer.Ordinal);

    private LocalPipeline(IRunStore store, IStagingStore staging, IDestinationFactory destinations, TimeProvider time, ILoggerFactory loggers,
        int parallelism, string lockFolder, ExportWatchdogOptions? watchdog, Func<IWorkQueue, IWorkQueue>? queue, ISourceStore? sources)
    {
        Store = store;
        _locks = new RunLocks(lockFolder);
        Concurrency = Math.Max(2, parallelism > 0 ? parallelism : Environment.ProcessorCount);
        var sender = queue?.Invoke(_queue) ?? _queue;
        Stages = new ExportStages(store, staging, destinations, sender, time, loggers.CreateLogger<ExportStages>(), new ExportProgress(), parallelism, sources);
        Scheduler = new ExportScheduler(store, sender, time, loggers.CreateLogger<ExportScheduler>());
        Watchdog = new ExportWatchdog(store, sender, time, watchdog ?? new ExportWatchdogOptions(), loggers.CreateLogger<ExportWatchdog>());
    }

    public IRunStore Store { get; }
    public ExportStages Stages { get; }
    public ExportScheduler Scheduler { get; }
    public ExportWatchdog Watchdog { get; }
    public ExportProgress Progress => Stages.Progress;
    public int Concurrency { get; }

    public static Task<LocalPipeline> OpenAsync(string statePath, string stagingPath, TimeProvider time, ILoggerFactory loggers,
        int parallelism = 0, IDestinationFactory? destinations = null, CancellationToken cancellationToken = default) =>
        OpenAsync(statePath, stagingPath, time, loggers, new LocalPipelineOptions { Parallelism = parallelism, Destinations = destinations }, cancellationToken);

    public static async Task<LocalPipeline> OpenAsync(string statePath, string stagingPath, TimeProvider time, ILoggerFactory loggers,
        LocalPipelineOptions options, CancellationToken cancellationToken)
    {
        var store = await SqliteRunStore.OpenAsync(statePath, cancellationToken);
        var locks = Path.Combine(Path.GetDirectoryName(store.Path)!, "locks");
        return new LocalPipeline(store, new FolderStagingStore(stagingPath), options.Destinations ?? new LocalDestinationFactory(), time, loggers,
            options.Parallelism, locks, options.Watchdog, options.Queue, options.Sources);
    }

    /// <summary>
    /// Takes over unfinished runs no other process is driving (and re-drives stalled ones), starts every due activation
    /// and retry, and waits until this process has nothing left to do. Runs another process is working on are
    /// returned too, unfinished: see <see cref="IsInProgressElsewhere"/>.
    /// </summary>
    public async Task<IReadOnlyList<ExportRun>> RunDueAsync(IEnumerable<SegmentActivation> activations, CancellationToken cancellationToken)
    {
        var elsewhere = new List<ExportRun>();
        var resumed = await Watchdog.RedriveStalledAsync(run =>
        {
            if (_locks.TryAcquire(run.RunId)) return true;
            elsewhere.Add(run);
            return false;
        }, cancellationToken);
        var started = await Scheduler.TickAsync(activations, cancellationToken);
        await DrainAsync(cancellationToken);
        return await FinishAsync(resumed.Concat(started).Concat(elsewhere), cancellationToken);
    }

    /// <summary>Runs one export now (ad hoc) and waits for it.</summary>
    public async Task<ExportRun> ExportNowAsync(ExportRun run, CancellationToken cancellationToken)
    {
        var stored = await Store.CreateRunIfAbsentAsync(run, cancellationToken);
        if (!stored.IsFinished && _locks.TryAcquire(stored.RunId)) await StageHandOff.SendPendingAsync(Store, _queue, stored, cancellationToken);
        await DrainAsync(cancellationToken);
        return (await FinishAsync([stored], cancellationToken))[0];
    }

    /// <summary>Runs one slot of an activation now (`run --slot`): retries it if it failed, resumes it if unfinished.</summary>
    public async Task<ExportRun> RunSlotAsync(SegmentActivation activation, DateTimeOffset slot, CancellationToken cancellationToken)
    {
        var existing = await Store.GetRunAsync(RunIds.ForSlot(activation.Id, slot.ToUniversalTime()), cancellationToken);
        if (existing is { IsFinished: false }) return await ResumeAsync(existing, cancellationToken);
        var run = await Scheduler.StartSlotAsync(activation, slot, cancellationToken);
        await DrainAsync(cancellationToken);
        return (await FinishAsync([run], cancellationToken))[0];
    }

    /// <summary>Re-runs a failed run now (`retry`), as its next attempt with <paramref name="spec"/>; an unfinished run is resumed.</summary>
    public async Task<ExportRun> RetryAsync(ExportRun run, ExportSpec spec, CancellationToken cancellationToken)
    {
        if (!run.IsFinished) return await ResumeAsync(run, cancellationToken);
        if (run.Status == RunStatus.Failed) await Scheduler.RetryAsync(run, spec, cancellationToken);
        await DrainAsync(cancellationToken);
        return (await FinishAsync([run], cancellationToken))[0];
    }

    /// <summary>Drives an unfinished run to its end here, unless another process is driving it.</summary>
    private async Task<ExportRun> ResumeAsync(ExportRun run, CancellationToken cancellationToken)
    {
        if (_locks.TryAcquire(run.RunId) && await Store.GetRunAsync(run.RunId, cancellationToken) is { IsFinished: false } current)
            await StageHandOff.SendPendingAsync(Store, _queue, current, cancellationToken);
        await DrainAsync(cancellationToken);
        return (await FinishAsync([run], cancellationToken))[0];
    }

    /// <summary>Whether an unfinished run returned by the last call is being driven by another process (it holds the run's lock).</summary>
    public bool IsInProgressElsewhere(string runId)
    {
        lock (_elsewhere) return _elsewhere.Contains(runId);
    }

    /// <summary>Processes queued messages until none are left; a message that keeps failing fails its run.</summary>
    public Task DrainAsync(CancellationToken cancellationToken, Func<StageMessage, CancellationToken, Task>? handler = null)
    {
        var handle = handler ?? Stages.HandleAsync;
        return _queue.DrainAsync(async (message, ct) =>
            {
                // Another live process holds this run: its messages are its owner's to handle.
                if (_locks.TryAcquire(message.RunId)) await handle(message, ct);
            },
            (message, error) => Stages.FailRunAsync(message.RunId, message.Attempt,
                $"{message.GetType().Name} failed {InProcessWorkQueue.MaxAttempts} times: {error.Message}", CancellationToken.None),
            Concurrency, cancellationToken);
    }

    public Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken) => _queue.EnqueueAsync(messages, cancellationToken);

    /// <summary>
    /// Reloads the runs, deletes the staging of finished ones (whoever finished them) and lets go of their locks;
    /// notes which unfinished ones another process holds.
    /// </summary>
    private async Task<IReadOnlyList<ExportRun>> FinishAsync(IEnumerable<ExportRun> runs, CancellationToken cancellationToken)
    {
        var result = new List<ExportRun>();
        lock (_elsewhere) _elsewhere.Clear();
        foreach (var id in runs.Select(r => r.RunId).Distinct())
        {
            var run = (await Store.GetRunAsync(id, cancellationToken))!;
            result.Add(run);
            if (run.IsFinished)
            {
                if (_locks.TryAcquire(id) || run.Status == RunStatus.Succeeded) await Stages.DeleteStagingAsync(run, cancellationToken);
                _locks.Release(id, finished: true);
            }
            else if (!_locks.TryAcquire(id))
            {
                lock (_elsewhere) _elsewhere.Add(id);
            }
        }
        foreach (var id in _locks.Held)
        {
            var run = await Store.GetRunAsync(id, cancellationToken);
            _locks.Release(id, finished: run?.IsFinished ?? true);
        }
        return result;
    }

    public void Dispose() => _locks.Dispose();
}

/// <summary>How a <see cref="LocalPipeline"/> is put together.</summary>
public sealed record LocalPipelineOptions
{
    public int Parallelism { get; init; }
    public IDestinationFactory? Destinations { get; init; }
    public ExportWatchdogOptions? Watchdog { get; init; }
    /// <summary>Wraps the queue the stages send to (tests inject failing enqueues with it).</summary>
    public Func<IWorkQueue, IWorkQueue>? Queue { get; init; }
    /// <summary>Where snapshots are read; local files when null (the CLI adds blob URLs).</summary>
    public ISourceStore? Sources { get; init; }
}
