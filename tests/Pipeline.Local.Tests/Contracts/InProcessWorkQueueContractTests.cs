using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.TestKit.Contracts;

namespace Pipeline.Local.Tests.Contracts;

public sealed class InProcessWorkQueueContractTests : WorkQueueContract
{
    private InProcessWorkQueue? _queue;

    protected override int MaxAttempts => InProcessWorkQueue.MaxAttempts;

    protected override Task<IWorkQueue> CreateQueueAsync(CancellationToken cancellationToken)
    {
        _queue = new InProcessWorkQueue();
        return Task.FromResult<IWorkQueue>(_queue);
    }

    protected override Task DrainAsync(Func<StageMessage, CancellationToken, Task> handle, Func<StageMessage, CancellationToken, Task> poison,
        CancellationToken cancellationToken) =>
        _queue!.DrainAsync(handle, (message, _) => poison(message, CancellationToken.None), concurrency: 4, cancellationToken);
}
