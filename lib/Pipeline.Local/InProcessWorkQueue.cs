using System.Threading.Channels;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Local;

/// <summary>
/// The embedded queue: an in-process channel drained by a few workers. Like a Storage queue it is
/// at-least-once: a failed message is retried, and after <see cref="MaxAttempts"/> it is poisoned.
/// It lives only as long as the process; unfinished runs are re-sent from the state store on start.
/// </summary>
public sealed class InProcessWorkQueue : IWorkQueue
{
    public const int MaxAttempts = 3;

    private readonly Channel<(StageMessage Message, int Attempt)> _channel = Channel.CreateUnbounded<(StageMessage, int)>();
    private int _outstanding;
    private TaskCompletionSource _idle = NewIdle();

    private static TaskCompletionSource NewIdle() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken)
    {
        foreach (var m in messages)
        {
            Interlocked.Increment(ref _outstanding);
            _channel.Writer.TryWrite((m, 1));
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Processes messages with <paramref name="concurrency"/> workers until none are left (or cancelled).
    /// <paramref name="poison"/> gets a message that failed <see cref="MaxAttempts"/> times, with its error.
    /// </summary>
    public async Task DrainAsync(Func<StageMessage, CancellationToken, Task> handle, Func<StageMessage, Exception, Task> poison,
        int concurrency, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _outstanding) == 0) return;
        _idle = NewIdle();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (await _channel.Reader.WaitToReadAsync(stop.Token))
            {
                if (!_channel.Reader.TryRead(out var item)) continue;
                try
                {
                    await handle(item.Message, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    throw;
                }
                catch (Exception e)
                {
                    if (item.Attempt < MaxAttempts)
                    {
                        Interlocked.Increment(ref _outstanding);
                        _channel.Writer.TryWrite((item.Message, item.Attempt + 1));
                    }
                    else
                    {
                        // The message is done either way; a poison handler that throws must not leave it counted (DrainAsync would wait forever).
                        try { await poison(item.Message, e); }
                        finally { Settle(); }
                        continue;
                    }
                }
                Settle();
            }
        }, stop.Token)).ToList();

        void Settle()
        {
            if (Interlocked.Decrement(ref _outstanding) == 0) _idle.TrySetResult();
        }

        var finished = await Task.WhenAny(_idle.Task, Task.WhenAll(workers));
        await stop.CancelAsync();
        try { await Task.WhenAll(workers); }
        catch (OperationCanceledException) when (finished == _idle.Task && !cancellationToken.IsCancellationRequested) { }
        cancellationToken.ThrowIfCancellationRequested();
        await finished; // surfaces a worker's unexpected failure
    }
}
