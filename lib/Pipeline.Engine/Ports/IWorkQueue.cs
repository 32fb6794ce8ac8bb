using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Ports;

/// <summary>Hands stage messages to the next stage: in-process channels locally, Storage queues in Azure. At-least-once.</summary>
public interface IWorkQueue
{
    Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken);
}
