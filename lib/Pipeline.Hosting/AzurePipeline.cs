using System.Collections.Concurrent;
using Azure;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Hosting;

/// <summary>How an <see cref="AzurePipeline"/> serves the queues.</summary>
public sealed record AzurePipelineOptions
{
    /// <summary>
    /// How long a received message stays hidden from other processes, renewed at half-time while it is handled. Short,
    /// so the messages of a killed CLI come back soon; the Functions host's 10 minutes would keep a rerun waiting.
    /// </summary>
    public static readonly TimeSpan DefaultLease = TimeSpan.FromSeconds(15);

    /// <summary>Chunks built at once and messages handled at once (0: one per core).</summary>
    public int Parallelism { get; init; }

    public ExportWatchdogOptions Watchdog { get; init; } = new();

    public TimeSpan Lease { get; init; } = DefaultLease;

    /// <summary>Longest pause between looks at the queues while messages are held by another process.</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a call waits for an unreachable storage account (no answer, or 5xx, after each request's own retries)
    /// before it gives up; finished work is kept either way.
    /// </summary>
    public TimeSpan StorageOutageLimit { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Told once per wait how many stage messages another process holds (alive, or dead until its lease ends).</summary>
    public Action<long>? Waiting { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The CLI's Azure backend: the stages of <see cref="AzureBackend"/> driven in this process through the real Storage
/// queues, as one more worker beside any Functions instance or other `pipeline run` on the account. Table ETags and
/// queue leases make that safe, so there is no lock: a call returns when its runs are finished, or when no stage
/// message is queued or leased anywhere and a run is still unfinished (another process is between two steps of it,
/// and will finish it). While another process holds messages (it is working, or it died and its lease has not ended
/// yet), the call waits and takes over whatever comes back.
/// </summary>
public sealed partial class AzurePipeline : IExportPipeline
{
    private readonly StageQueueProcessor _processor;
    private readonly AzurePipelineOptions _options;
    private readonly int _maxDequeueCount;
    private readonly ILogger _logger;
    private readonly HashSet<string> _elsewhere = new(StringComparer.Ordinal);
    // The last error of each failing message, so the run's failure says why when the message is poisoned.
    private readonly ConcurrentDictionary<string, string> _failures = new(StringComparer.Ordinal);

    private AzurePipeline(AzureBackend backend, AzurePipelineOptions options, ILoggerFactory loggers)
    {
        Backend = backend;
        _options = options;
        var queueOptions = new StageQueueOptions
        {
            Lease = options.Lease,
            Concurrency = Math.Max(2, options.Parallelism > 0 ? options.Parallelism : Environment.ProcessorCount),
        };
        _maxDequeueCount = queueOptions.MaxDequeueCount;
        _processor = backend.CreateQueueProcessor(queueOptions, loggers);
        _logger = loggers.CreateLogger<AzurePipeline>();
    }

    public AzureBackend Backend { get; }

    public IRunStore Store => Backend.Store;

    public ExportScheduler Scheduler => Backend.Scheduler;

    public ExportProgress Progress => Backend.Stages.Progress;

    /// <summary>Opens the backend on <paramref name="connection"/> (creating its tables and containers when missing).</summary>
    public static async Task<AzurePipeline> OpenAsync(StorageConnection connection, PipelineAdapters adapters, ILoggerFactory loggers,
        AzurePipelineOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(loggers);
        options ??= new AzurePipelineOptions();
        var backend = await AzureBackend.OpenAsync(connection, adapters, loggers,
            new AzureBackendOptions { BuildParallelism = options.Parallelism, Watchdog = options.Watchdog, Time = options.Time }, cancellationToken);
        return new AzurePipeline(backend, options, loggers);
    }

    public async Task<IReadOnlyList<ExportRun>> RunDueAsync(IEnumerable<SegmentActivation> activations, CancellationToken cancellationToken)
    {
        var redriven = await Backend.Watchdog.RedriveStalledAsync(null, cancellationToken);
        var started = await Scheduler.TickAsync(activations, cancellationToken);
        // Runs a killed process left: their held messages come back when the lease ends, and this call waits for them.
        var unfinished = await Store.ListUnfinishedRunsAsync(cancellationToken);
        return await DriveAsync(redriven.Concat(started).Concat(unfinished), cancellationToken);
    }

    public async Task<ExportRun> ExportNowAsync(ExportRun run, CancellationToken cancellationToken)
    {
        var stored = await Store.CreateRunIfAbsentAsync(run, cancellationToken);
        if (stored is { Status: RunStatus.Planning, HandedOff: false }) await StageHandOff.SendPendingAsync(Store, Backend.Queue, stored, cancellationToken);
        return (await DriveAsync([stored], cancellationToken))[0];
    }

    public async Task<ExportRun> RunSlotAsync(SegmentActivation activation, DateTimeOffset slot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(activation);
        var existing = await Store.GetRunAsync(RunIds.ForSlot(activation.Id, slot.ToUniversalTime()), cancellationToken);
        var run = existing is { IsFinished: false } ? existing : await Scheduler.StartSlotAsync(activation, slot, cancellationToken);
        return (await DriveAsync([run], cancellationToken))[0];
    }

    public async Task<ExportRun> RetryAsync(ExportRun run, ExportSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Status == RunStatus.Failed) await Scheduler.RetryAsync(run, spec, cancellationToken);
        return (await DriveAsync([run], cancellationToken))[0];
    }

    public bool IsInProgressElsewhere(string runId)
    {
        lock (_elsewhere) return _elsewhere.Contains(runId);
    }

    /// <summary>
    /// Serves the queues until the runs are finished. While a run is unfinished and stage messages are queued or held
    /// anywhere, it polls and handles what becomes visible. When nothing is queued at all, nobody is driving the run:
    /// its pending messages are sent again, once per call (stages skip recorded work, so a duplicate costs nothing).
    /// </summary>
    private async Task<IReadOnlyList<ExportRun>> DriveAsync(IEnumerable<ExportRun> runs, CancellationToken cancellationToken)
    {
        var ids = runs.Select(r => r.RunId).Distinct(StringComparer.Ordinal).ToList();
        var clock = new OutageClock(_options.StorageOutageLimit, _options.Time);
        while (true)
        {
            try
            {
                return await DriveReachableAsync(ids, clock.Reachable, cancellationToken);
            }
            catch (Exception e) when (StorageOutage.IsStorageOutage(e) && !cancellationToken.IsCancellationRequested)
            {
                // Nothing is lost while the account is away: recorded work stays recorded, and held messages come back
                // when their lease ends. So wait and drive again, up to the limit.
                if (clock.Failed() is not { } delay) throw;
                Log.StorageUnreachable(_logger, StorageOutage.Explain(e), delay.TotalSeconds, clock.Unreachable.TotalSeconds, _options.StorageOutageLimit.TotalMinutes);
                await Task.Delay(delay, _options.Time, cancellationToken);
            }
        }
    }

    /// <param name="reachable">Called after every pass whose queue and table calls all answered.</param>
    private async Task<IReadOnlyList<ExportRun>> DriveReachableAsync(List<string> ids, Action reachable, CancellationToken cancellationToken)
    {
        var resent = new HashSet<string>(StringComparer.Ordinal);
        var polls = 0;
        var told = false;
        while (true)
        {
            await _processor.DrainAsync(HandleAsync, PoisonAsync, cancellationToken);
            var open = new List<ExportRun>();
            foreach (var id in ids)
            {
                if (await Store.GetRunAsync(id, cancellationToken) is { IsFinished: false } run) open.Add(run);
            }
            if (open.Count == 0) break;
            var queued = await CountQueuedAsync(cancellationToken);
            // Queues and tables answered this pass (a drain alone would not show the tables are back).
            reachable();
            if (queued > 0)
            {
                if (!told) _options.Waiting?.Invoke(queued);
                told = true;
                polls++;
                var delay = TimeSpan.FromMilliseconds(100 * Math.Pow(2, Math.Min(polls, 10)));
                await Task.Delay(delay < _options.MaxPollInterval ? delay : _options.MaxPollInterval, _options.Time, cancellationToken);
                continue;
            }
            var orphans = open.Where(r => resent.Add(r.RunId)).ToList();
            if (orphans.Count == 0) break;
            foreach (var run in orphans)
            {
                Log.Resending(_logger, run.RunId, run.Status.ToString());
                await StageHandOff.SendPendingAsync(Store, Backend.Queue, run, cancellationToken);
            }
            polls = 0;
            told = false;
        }
        return await FinishAsync(ids, cancellationToken);
    }

    /// <summary>Reloads the runs, deletes the staging of finished ones (whoever finished them), notes the unfinished ones.</summary>
    private async Task<IReadOnlyList<ExportRun>> FinishAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var result = new List<ExportRun>();
        lock (_elsewhere) _elsewhere.Clear();
        foreach (var id in ids)
        {
            var run = (await Store.GetRunAsync(id, cancellationToken))!;
            result.Add(run);
            if (run.IsFinished) await Backend.Stages.DeleteStagingAsync(run, cancellationToken);
            else lock (_elsewhere) _elsewhere.Add(id);
        }
        return result;
    }

    private async Task HandleAsync(StageMessage message, long dequeueCount, CancellationToken cancellationToken)
    {
        var key = StageQueues.Serialize(message);
        try
        {
            await Backend.Stages.HandleAsync(message, cancellationToken);
            _failures.TryRemove(key, out _);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            _failures[key] = StorageOutage.Explain(e);
            throw;
        }
    }

    /// <summary>A message that failed every attempt fails its run (aborting uploads, deleting staging), like the app's …Poison functions.</summary>
    private Task PoisonAsync(StageMessage message, CancellationToken cancellationToken)
    {
        _failures.TryRemove(StageQueues.Serialize(message), out var error);
        return Backend.Stages.FailRunAsync(message.RunId, message.Attempt,
            $"{message.GetType().Name} failed {_maxDequeueCount} times{(error is null ? " (in another process; its log has the error)" : ": " + error)}",
            CancellationToken.None);
    }

    /// <summary>Stage and poison messages queued, visible or held under a lease (approximate: the service's count).</summary>
    private async Task<long> CountQueuedAsync(CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var queue in StageQueues.All.SelectMany(q => new[] { q, StageQueues.Poison(q) }))
        {
            try
            {
                total += (await Backend.QueueService.GetQueueClient(queue).GetPropertiesAsync(cancellationToken)).Value.ApproximateMessagesCountLong;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                // Not created yet: nothing queued there.
            }
        }
        return total;
    }

    public void Dispose()
    {
        // The clients hold no resources that need releasing; the adapters belong to the caller.
    }

    private static partial class Log
    {
        [LoggerMessage(61, LogLevel.Warning, "{Error}: retrying in {DelaySeconds:0} s; finished work is kept (unreachable for {UnreachableSeconds:0} s, giving up after {LimitMinutes:0} min)")]
        public static partial void StorageUnreachable(ILogger logger, string error, double delaySeconds, double unreachableSeconds, double limitMinutes);

        [LoggerMessage(60, LogLevel.Information, "Run {RunId} is unfinished ({Status}) and no stage message is queued anywhere: sending its pending messages")]
        public static partial void Resending(ILogger logger, string runId, string status);
    }
}
