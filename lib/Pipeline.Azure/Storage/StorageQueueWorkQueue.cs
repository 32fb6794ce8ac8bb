using System.Collections.Concurrent;
using Azure;
using Azure.Storage.Queues;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Azure.Storage;

/// <summary>
/// Stage messages onto Azure Storage queues (<see cref="StageQueues"/>). A fan-out of thousands of part messages is
/// sent with <see cref="SendConcurrency"/> requests in flight, not one after another (a queue takes one message per
/// request). At-least-once: if a send fails the whole call fails, and the caller's retry may send some twice.
/// </summary>
public sealed class StorageQueueWorkQueue : IWorkQueue
{
    public const int SendConcurrency = 64;

    private readonly StageQueueClients _queues;

    /// <param name="service">Made with <see cref="StageQueues.ClientOptions"/> (base64 bodies); see <see cref="Create"/>.</param>
    public StorageQueueWorkQueue(QueueServiceClient service) => _queues = new StageQueueClients(service);

    public static StorageQueueWorkQueue Create(StorageConnection connection) =>
        new(connection.CreateQueueServiceClient(StageQueues.ClientOptions()));

    public async Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var queue in messages.Select(StageQueues.For).Distinct())
            await _queues.GetAsync(queue, cancellationToken);
        await Parallel.ForEachAsync(messages, new ParallelOptions { MaxDegreeOfParallelism = SendConcurrency, CancellationToken = cancellationToken },
            async (message, ct) =>
            {
                var queue = StageQueues.For(message);
                var client = await _queues.GetAsync(queue, ct);
                try
                {
                    await client.SendMessageAsync(StageQueues.Serialize(message), ct);
                }
                catch (RequestFailedException e)
                {
                    throw new IOException($"Cannot send a {message.GetType().Name} message for run {message.RunId} to queue {queue} " +
                        $"in {client.AccountName}: {e.Status} {e.ErrorCode}.", e);
                }
            });
    }
}

/// <summary>Queue clients by name, each created on the account once per process (a deployment normally has made them).</summary>
internal sealed class StageQueueClients(QueueServiceClient service)
{
    // Shared by every user of one service client (the stages' sender and the processor serving the queues), so each
    // queue is created once per process, not once per user.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<QueueServiceClient, ConcurrentDictionary<string, Lazy<Task<QueueClient>>>> Created = new();

    private readonly ConcurrentDictionary<string, Lazy<Task<QueueClient>>> _clients =
        Created.GetValue(service ?? throw new ArgumentNullException(nameof(service)), _ => new(StringComparer.Ordinal));

    public QueueServiceClient Service { get; } = service ?? throw new ArgumentNullException(nameof(service));

    public Task<QueueClient> GetAsync(string name, CancellationToken cancellationToken)
    {
        var lazy = _clients.GetOrAdd(name, n => new Lazy<Task<QueueClient>>(() => CreateAsync(n)));
        var task = lazy.Value;
        // A failed creation is not cached: the next call tries again.
        if (task.IsFaulted) _clients.TryUpdate(name, new Lazy<Task<QueueClient>>(() => CreateAsync(name)), lazy);
        return task.WaitAsync(cancellationToken);
    }

    private async Task<QueueClient> CreateAsync(string name)
    {
        var client = Service.GetQueueClient(name);
        try
        {
            await client.CreateIfNotExistsAsync();
        }
        catch (RequestFailedException e)
        {
            throw new IOException($"Cannot create or open queue {name} in {Service.AccountName}: {e.Status} {e.ErrorCode}. " +
                "Fix: create it, or grant the identity Storage Queue Data Contributor on the account.", e);
        }
        return client;
    }
}
