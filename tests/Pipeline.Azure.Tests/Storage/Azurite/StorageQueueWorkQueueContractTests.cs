using Azure.Storage.Queues;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.TestKit.Contracts;

namespace Pipeline.Azure.Tests.Storage.Azurite;

[Category("Integration")]
public sealed class StorageQueueWorkQueueContractTests : WorkQueueContract
{
    private QueueServiceClient? _service;

    protected override int MaxAttempts => 3;

    protected override async Task<IWorkQueue> CreateQueueAsync(CancellationToken cancellationToken)
    {
        // The stage queues have fixed names: empty them so each test starts from nothing.
        _service = new QueueServiceClient(AzuriteSetUp.Endpoints.ConnectionString, StageQueues.ClientOptions());
        foreach (var name in StageQueues.All.SelectMany(q => new[] { q, StageQueues.Poison(q), StageQueues.Poison(StageQueues.Poison(q)) }))
        {
            var queue = _service.GetQueueClient(name);
            await queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            await queue.ClearMessagesAsync(cancellationToken);
        }
        return new StorageQueueWorkQueue(_service);
    }

    protected override Task DrainAsync(Func<StageMessage, CancellationToken, Task> handle, Func<StageMessage, CancellationToken, Task> poison,
        CancellationToken cancellationToken) =>
        new StageQueueProcessor(_service!, new StageQueueOptions { MaxDequeueCount = MaxAttempts, Concurrency = 8 })
            .DrainAsync((message, _, ct) => handle(message, ct), poison, cancellationToken);
}
