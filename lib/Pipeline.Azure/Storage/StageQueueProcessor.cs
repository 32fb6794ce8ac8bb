using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Runs;

namespace Pipeline.Azure.Storage;

/// <summary>How <see cref="StageQueueProcessor"/> serves the queues; the defaults are the Functions host's queue defaults.</summary>
public sealed class StageQueueOptions
{
    /// <summary>Attempts before a message moves to its poison queue (host.json <c>maxDequeueCount</c>, default 5).</summary>
    public int MaxDequeueCount { get; init; } = 5;

    /// <summary>How long a received message stays invisible while it is handled; renewed at half-time (the host's 10 minutes).</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>When a failed message becomes visible again (host.json <c>visibilityTimeout</c>, default 0).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Messages fetched per request (host.json <c>batchSize</c>, default 16, at most 32).</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Messages handled at once, over all queues.</summary>
    public int Concurrency { get; init; } = Math.Max(2, Environment.ProcessorCount);

    /// <summary>Longest wait between polls of empty queues when serving without end (host.json <c>maxPollingInterval</c>).</summary>
    public TimeSpan MaxPollingInterval { get; init; } = TimeSpan.FromSeconds(10);

    internal StageQueueOptions Validated()
    {
        if (MaxDequeueCount < 1) throw new ArgumentOutOfRangeException(nameof(MaxDequeueCount), MaxDequeueCount, "At least 1.");
        if (Lease < TimeSpan.FromSeconds(2) || Lease > TimeSpan.FromDays(7))
            throw new ArgumentOutOfRangeException(nameof(Lease), Lease, "Between 2 seconds and 7 days (the queue service's limit).");
        if (RetryDelay < TimeSpan.Zero || RetryDelay > TimeSpan.FromDays(7))
            throw new ArgumentOutOfRangeException(nameof(RetryDelay), RetryDelay, "Between 0 and 7 days.");
        if (BatchSize is < 1 or > 32) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "Between 1 and 32.");
        if (Concurrency < 1) throw new ArgumentOutOfRangeException(nameof(Concurrency), Concurrency, "At least 1.");
        if (MaxPollingInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxPollingInterval), MaxPollingInterval, "Positive.");
        return this;
    }
}

/// <summary>
/// Serves the stage queues the way the Functions host serves queue triggers, so the CLI can run the Azure-shaped
/// pipeline in-process: receive with a lease (renewed while the handler runs), decode base64 + JSON, pass the
/// dequeue count, delete on success, make the message visible again on failure, and after
/// <see cref="StageQueueOptions.MaxDequeueCount"/> attempts move it to <c>&lt;queue&gt;-poison</c>, whose messages
/// go to the poison handler (the app's <c>…Poison</c> functions).
/// </summary>
public sealed partial class StageQueueProcessor
{
    private readonly StageQueueClients _queues;
    private readonly StageQueueOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <param name="service">Made with <see cref="StageQueues.ClientOptions"/> (base64 bodies).</param>
    public StageQueueProcessor(QueueServiceClient service, StageQueueOptions? options = null, TimeProvider? time = null, ILogger<StageQueueProcessor>? logger = null)
    {
        _queues = new StageQueueClients(service);
        _options = (options ?? new StageQueueOptions()).Validated();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The handler of a stage message: the message, how many times it has been received (1 the first time), cancellation.</summary>
    public delegate Task StageHandler(StageMessage message, long dequeueCount, CancellationToken cancellationToken);

    /// <summary>
    /// Handles messages until every stage queue and poison queue is empty and no handler is running (a handler may
    /// enqueue more). Messages another process holds under its lease are not waited for.
    /// </summary>
    public Task DrainAsync(StageHandler handle, Func<StageMessage, CancellationToken, Task> poison, CancellationToken cancellationToken) =>
        ServeAsync(handle, poison, untilIdle: true, cancellationToken);

    /// <summary>Handles messages until cancelled, polling empty queues with a back-off up to <see cref="StageQueueOptions.MaxPollingInterval"/>.</summary>
    public Task RunAsync(StageHandler handle, Func<StageMessage, CancellationToken, Task> poison, CancellationToken cancellationToken) =>
        ServeAsync(handle, poison, untilIdle: false, cancellationToken);

    private async Task ServeAsync(StageHandler handle, Func<StageMessage, CancellationToken, Task> poison, bool untilIdle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(poison);
        var sources = StageQueues.All.Select(q => (Queue: q, IsPoison: false))
            .Concat(StageQueues.All.Select(q => (Queue: StageQueues.Poison(q), IsPoison: true))).ToList();
        var clients = new Dictionary<string, QueueClient>(StringComparer.Ordinal);
        foreach (var (queue, _) in sources) clients[queue] = await _queues.GetAsync(queue, cancellationToken);

        var running = new List<Task>();
        var retries = new List<DateTimeOffset>(); // when failed messages become visible again (RetryDelay > 0)
        var idlePolls = 0;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var received = 0;
                foreach (var (queue, isPoison) in sources)
                {
                    var room = _options.Concurrency - running.Count;
                    if (room <= 0) break;
                    var client = clients[queue];
                    QueueMessage[] batch = (await client.ReceiveMessagesAsync(Math.Min(room, _options.BatchSize), _options.Lease, cancellationToken)).Value;
                    received += batch.Length;
                    foreach (var message in batch)
                        running.Add(ProcessAsync(client, queue, isPoison, message, handle, poison, retries, cancellationToken));
                }
                running.RemoveAll(t => t.IsCompletedSuccessfully);
                if (running.Find(t => t.IsCompleted) is { } failed) await failed; // a bug in the processor itself, not a handler failure
                lock (retries) retries.RemoveAll(due => due <= _time.GetUtcNow());

                if (received > 0 && running.Count < _options.Concurrency)
                {
                    idlePolls = 0;
                    continue;
                }
                if (running.Count > 0)
                {
                    // Full, or nothing visible while handlers run: the next change comes from one of them.
                    await Task.WhenAny(running).WaitAsync(cancellationToken);
                    idlePolls = 0;
                    continue;
                }
                DateTimeOffset? nextRetry;
                lock (retries) nextRetry = retries.Count == 0 ? null : retries.Min();
                if (nextRetry is { } due)
                {
                    await Task.Delay(Max(due - _time.GetUtcNow(), TimeSpan.Zero), _time, cancellationToken);
                    continue;
                }
                if (untilIdle && received == 0) return;
                idlePolls++;
                await Task.Delay(PollDelay(idlePolls), _time, cancellationToken);
            }
        }
        finally
        {
            // On cancellation the handlers see the token; wait for them so no work outlives the call.
            try { await Task.WhenAll(running); }
            catch (Exception) when (cancellationToken.IsCancellationRequested) { }
        }
    }

    private TimeSpan PollDelay(int idlePolls)
    {
        var delay = TimeSpan.FromMilliseconds(100 * Math.Pow(2, Math.Min(idlePolls - 1, 16)));
        return delay < _options.MaxPollingInterval ? delay : _options.MaxPollingInterval;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private async Task ProcessAsync(QueueClient client, string queue, bool isPoison, QueueMessage received, StageHandler handle,
        Func<StageMessage, CancellationToken, Task> poison, List<DateTimeOffset> retries, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var lease = new MessageLease(client, received, _options.Lease, _time);
        using var renewal = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewing = lease.RenewUntilCancelledAsync(renewal.Token);
        Exception? failure = null;
        try
        {
            var message = StageQueues.Deserialize(received.Body, queue);
            if (isPoison) await poison(message, cancellationToken);
            else await handle(message, received.DequeueCount, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await renewal.CancelAsync();
            await renewing;
            // Shutting down: make it visible again at once rather than after the lease.
            await lease.ReleaseAsync(TimeSpan.Zero, CancellationToken.None);
            throw;
        }
        catch (Exception e)
        {
            failure = e;
        }
        await renewal.CancelAsync();
        await renewing;

        if (failure is null)
        {
            await lease.DeleteAsync(CancellationToken.None);
            return;
        }
        if (received.DequeueCount < _options.MaxDequeueCount)
        {
            LogRetry(_logger, queue, received.MessageId, received.DequeueCount, _options.MaxDequeueCount, StorageOutage.Explain(failure));
            if (_options.RetryDelay > TimeSpan.Zero) lock (retries) retries.Add(_time.GetUtcNow() + _options.RetryDelay);
            await lease.ReleaseAsync(_options.RetryDelay, CancellationToken.None);
            return;
        }
        // Like the host, a poison handler that keeps failing parks its message in <queue>-poison-poison, which nobody serves.
        var poisonQueue = await _queues.GetAsync(StageQueues.Poison(queue), CancellationToken.None);
        // The same body, as the host moves it: the poison handler reads what the stage read.
        await poisonQueue.SendMessageAsync(received.Body, cancellationToken: CancellationToken.None);
        await lease.DeleteAsync(CancellationToken.None);
        LogPoisoned(_logger, queue, received.MessageId, received.DequeueCount, StorageOutage.Explain(failure));
    }


    /// <summary>A received message's pop receipt, which changes with every renewal.</summary>
    private sealed class MessageLease(QueueClient client, QueueMessage message, TimeSpan lease, TimeProvider time)
    {
        private string _popReceipt = message.PopReceipt;

        public async Task RenewUntilCancelledAsync(CancellationToken cancellationToken)
        {
            try
            {
                while (true)
                {
                    await Task.Delay(lease / 2, time, cancellationToken);
                    try
                    {
                        var updated = await client.UpdateMessageAsync(message.MessageId, _popReceipt, visibilityTimeout: lease, cancellationToken: cancellationToken);
                        _popReceipt = updated.Value.PopReceipt;
                    }
                    // Out of reach for now: try again at the next half-lease; the receipt still holds if the lease did not end.
                    catch (Exception e) when (StorageOutage.IsOutage(e) && !cancellationToken.IsCancellationRequested) { }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
            // The lease is lost (the receipt is refused): another receiver may handle it too (at-least-once).
            catch (RequestFailedException) { }
        }

        public async Task ReleaseAsync(TimeSpan visibleIn, CancellationToken cancellationToken)
        {
            try { await client.UpdateMessageAsync(message.MessageId, _popReceipt, visibilityTimeout: visibleIn, cancellationToken: cancellationToken); }
            catch (RequestFailedException e) when (e.Status == 404) { } // lease lost: it reappears by itself
            catch (Exception e) when (StorageOutage.IsOutage(e)) { } // out of reach: it reappears by itself when the lease ends
        }

        public async Task DeleteAsync(CancellationToken cancellationToken)
        {
            try { await client.DeleteMessageAsync(message.MessageId, _popReceipt, cancellationToken); }
            catch (RequestFailedException e) when (e.Status == 404) { } // lease lost after the work was done: it runs again (at-least-once)
            catch (Exception e) when (StorageOutage.IsOutage(e)) { } // out of reach: it reappears when the lease ends and runs again
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Message {MessageId} on {Queue} failed (attempt {DequeueCount} of {MaxDequeueCount}); it will be retried: {Error}")]
    private static partial void LogRetry(ILogger logger, string queue, string messageId, long dequeueCount, int maxDequeueCount, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Message {MessageId} on {Queue} failed {DequeueCount} times and moved to the poison queue: {Error}")]
    private static partial void LogPoisoned(ILogger logger, string queue, string messageId, long dequeueCount, string error);
}
