using Azure.Storage.Queues;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Configuration;
using Pipeline.Azure.State;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Building;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Hosting;

/// <summary>How <see cref="AzureBackend"/> runs the stages.</summary>
public sealed record AzureBackendOptions
{
    /// <summary>Chunks one BuildSlice builds at once (0: one per core).</summary>
    public int BuildParallelism { get; init; }

    public ExportWatchdogOptions Watchdog { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Wraps the run store the stages, scheduler and watchdog use (tests inject faults here); null: the table store itself.</summary>
    public Func<IRunStore, IRunStore>? WrapStore { get; init; }

    /// <summary>Wraps the destinations the stages deliver to (tests inject faults here); null: the adapters' own.</summary>
    public Func<IDestinationFactory, IDestinationFactory>? WrapDestinations { get; init; }
}

/// <summary>
/// The pipeline on Azure Storage, as the Functions app and the CLI's Azure backend both run it: run state in Tables
/// (<see cref="TableRunStore"/>), staging in a blob container, one Storage queue per stage, and the published config,
/// all on the <c>PipelineStorage</c> account; destinations and secrets from <see cref="PipelineAdapters"/>.
/// </summary>
public sealed class AzureBackend
{
    private readonly TimeProvider _time;

    private AzureBackend(StorageConnection connection, IRunStore store, BlobStagingStore staging, QueueServiceClient queues,
        PublishedConfig config, PipelineAdapters adapters, ILoggerFactory loggers, AzureBackendOptions options)
    {
        Connection = connection;
        _time = options.Time;
        Store = store;
        Staging = staging;
        QueueService = queues;
        Queue = new StorageQueueWorkQueue(queues);
        Config = config;
        Adapters = adapters;
        Stages = new ExportStages(store, staging, options.WrapDestinations?.Invoke(adapters.Destinations) ?? adapters.Destinations, Queue, options.Time,
            loggers.CreateLogger<ExportStages>(), new ExportProgress(), options.BuildParallelism, adapters.Sources);
        Scheduler = new ExportScheduler(store, Queue, options.Time, loggers.CreateLogger<ExportScheduler>());
        Watchdog = new ExportWatchdog(store, Queue, options.Time, options.Watchdog.Validate(), loggers.CreateLogger<ExportWatchdog>());
    }

    public StorageConnection Connection { get; }
    public IRunStore Store { get; }
    public IStagingStore Staging { get; }
    /// <summary>The stage queues' service, with base64 message bodies (<see cref="StageQueues.ClientOptions"/>).</summary>
    public QueueServiceClient QueueService { get; }
    public IWorkQueue Queue { get; }
    public PublishedConfig Config { get; }
    public PipelineAdapters Adapters { get; }
    public ExportStages Stages { get; }
    public ExportScheduler Scheduler { get; }
    public ExportWatchdog Watchdog { get; }

    /// <summary>Opens the backend on <paramref name="connection"/>, creating its tables and containers when missing.</summary>
    public static async Task<AzureBackend> OpenAsync(StorageConnection connection, PipelineAdapters adapters, ILoggerFactory loggers,
        AzureBackendOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        options ??= new AzureBackendOptions();
        var blobs = connection.CreateBlobServiceClient();
        var store = new TableRunStore(connection.CreateTableServiceClient(), blobs, options.Time);
        await store.EnsureCreatedAsync(cancellationToken);
        return new AzureBackend(connection, options.WrapStore?.Invoke(store) ?? store, new BlobStagingStore(blobs), connection.CreateQueueServiceClient(StageQueues.ClientOptions()),
            new PublishedConfig(blobs), adapters, loggers, options);
    }

    /// <summary>Serves the stage queues in-process the way the Functions host does (the CLI's Azure backend, and tests).</summary>
    public StageQueueProcessor CreateQueueProcessor(StageQueueOptions? options, ILoggerFactory loggers) =>
        new(QueueService, options, _time, loggers.CreateLogger<StageQueueProcessor>());
}
