using Azure.Storage.Queues;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Hosting;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>
/// One instance of the app: its own host (the production wiring, on Azurite), and a driver that serves the real
/// Azurite queues the way the Functions host does (<see cref="StageQueueProcessor"/>: lease, dequeue count, delete on
/// success, poison after host.json's maxDequeueCount) and invokes the app's function methods.
/// </summary>
internal sealed class AppInstance : IDisposable
{
    private readonly IHost _host;

    public AppInstance(Func<IRunStore, IRunStore>? wrapStore = null, Func<IDestinationFactory, IDestinationFactory>? wrapDestinations = null,
        TimeProvider? time = null, Action<IServiceCollection>? services = null)
    {
        var clock = time ?? new FrozenClock(ExportWorld.Now);
        var settings = AppHost.SampleSettings();
        settings["PipelineStorage"] = Emulators.Azurite.ConnectionString;
        settings["AzureWebJobsStorage"] = Emulators.Azurite.ConnectionString;
        var more = services;
        _host = AppHost.Build(settings, services =>
        {
            services.AddSingleton<TimeProvider>(clock);
            services.AddSingleton(new AzureBackendOptions { Time = clock, WrapStore = wrapStore, WrapDestinations = wrapDestinations });
            more?.Invoke(services);
        });
    }

    public T Create<T>() => _host.Create<T>();

    public Task<AzureBackend> BackendAsync() => _host.Services.GetRequiredService<PipelineBackend>().GetAsync(CancellationToken.None);

    /// <summary>The timer fires: ScheduleExports runs as the host would call it.</summary>
    public Task ScheduleAsync() => _host.Create<ScheduleExports>().Run(new TimerInfo(), CancellationToken.None);

    /// <summary>A stage message arrives on its queue: the trigger's function runs with the text and the dequeue count.</summary>
    public Task InvokeStageAsync(string queue, string body, long dequeueCount, CancellationToken cancellationToken)
    {
        var functions = _host.Create<StageFunctions>();
        var context = new DriverFunctionContext(_host.Services, Guid.NewGuid().ToString(), dequeueCount);
        return queue switch
        {
            StageQueues.PlanExport => functions.PlanExport(body, context, cancellationToken),
            StageQueues.BuildSlice => functions.BuildSlice(body, context, cancellationToken),
            StageQueues.AssembleFiles => functions.AssembleFiles(body, context, cancellationToken),
            StageQueues.UploadPart => functions.UploadPart(body, context, cancellationToken),
            StageQueues.CompleteExport => functions.CompleteExport(body, context, cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(queue), queue, null),
        };
    }

    /// <summary>A message arrives on a poison queue (<paramref name="queue"/> is the stage queue it came from).</summary>
    public Task InvokePoisonAsync(string queue, string body, CancellationToken cancellationToken)
    {
        var functions = _host.Create<PoisonFunctions>();
        var context = new DriverFunctionContext(_host.Services, Guid.NewGuid().ToString(), 1);
        return queue switch
        {
            StageQueues.PlanExport => functions.PlanExportPoison(body, context, cancellationToken),
            StageQueues.BuildSlice => functions.BuildSlicePoison(body, context, cancellationToken),
            StageQueues.AssembleFiles => functions.AssembleFilesPoison(body, context, cancellationToken),
            StageQueues.UploadPart => functions.UploadPartPoison(body, context, cancellationToken),
            StageQueues.CompleteExport => functions.CompleteExportPoison(body, context, cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(queue), queue, null),
        };
    }

    /// <summary>A processor over the real queues with host.json's values; failed messages come back at once (no test waits out visibilityTimeout).</summary>
    public async Task<StageQueueProcessor> ProcessorAsync()
    {
        var host = ExportWorld.Host;
        return new StageQueueProcessor((await BackendAsync()).QueueService, new StageQueueOptions
        {
            MaxDequeueCount = host.MaxDequeueCount,
            BatchSize = host.BatchSize,
            Concurrency = host.BatchSize + host.NewBatchThreshold,
            RetryDelay = TimeSpan.Zero,
        });
    }

    /// <summary>Serves every queue until idle, invoking the functions (<paramref name="twice"/>: each message handled twice; <paramref name="faults"/>: injected failures).</summary>
    public async Task DrainAsync(bool twice = false, FaultPlan? faults = null, CancellationToken cancellationToken = default)
    {
        var processor = await ProcessorAsync();
        await processor.DrainAsync(
            async (message, dequeueCount, ct) =>
            {
                var queue = StageQueues.For(message);
                var body = StageQueues.Serialize(message);
                using (faults?.Begin(dequeueCount))
                    await InvokeStageAsync(queue, body, dequeueCount, ct);
                if (twice) await InvokeStageAsync(queue, body, dequeueCount, ct);
            },
            (message, ct) => InvokePoisonAsync(StageQueues.For(message), StageQueues.Serialize(message), ct),
            cancellationToken);
    }

    public void Dispose() => _host.Dispose();
}

internal static class Drive
{
    /// <summary>
    /// Drains with every instance at once until no queue holds a message: an instance that finds the queues empty while
    /// another still works returns, so the round repeats until both are done and nothing is left.
    /// </summary>
    public static async Task UntilIdleAsync(IReadOnlyList<AppInstance> instances, bool twice = false, FaultPlan? faults = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var queues = new QueueServiceClient(Emulators.Azurite.ConnectionString, StageQueues.ClientOptions());
        for (var round = 1; ; round++)
        {
            await Task.WhenAll(instances.Select(i => i.DrainAsync(twice, faults, timeout.Token)));
            var left = 0;
            foreach (var name in StageQueues.All.SelectMany(q => new[] { q, StageQueues.Poison(q) }))
                left += (await queues.GetQueueClient(name).GetPropertiesAsync(timeout.Token)).Value.ApproximateMessagesCount;
            if (left == 0) return;
            if (round >= 50) throw new InvalidOperationException($"{left} message(s) still queued after {round} rounds.");
        }
    }
}
