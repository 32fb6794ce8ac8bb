using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Runs;
using Pipeline.Hosting;

namespace Pipeline.Functions;

/// <summary>
/// One queue-triggered function per stage queue, so Flex Consumption scales each on its own instances (a burst of part
/// uploads never waits behind builds). Each hands the message to the engine's stage handler: problems a user must fix
/// fail the run there; anything else is thrown, and the host retries it, then moves it to the poison queue.
/// </summary>
public sealed partial class StageFunctions(PipelineBackend backend, ILogger<StageFunctions> logger)
{
    [Function(nameof(PlanExport))]
    public Task PlanExport([QueueTrigger(StageQueues.PlanExport, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        HandleAsync(StageQueues.PlanExport, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(BuildSlice))]
    public Task BuildSlice([QueueTrigger(StageQueues.BuildSlice, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        HandleAsync(StageQueues.BuildSlice, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(AssembleFiles))]
    public Task AssembleFiles([QueueTrigger(StageQueues.AssembleFiles, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        HandleAsync(StageQueues.AssembleFiles, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(UploadPart))]
    public Task UploadPart([QueueTrigger(StageQueues.UploadPart, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        HandleAsync(StageQueues.UploadPart, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(CompleteExport))]
    public Task CompleteExport([QueueTrigger(StageQueues.CompleteExport, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        HandleAsync(StageQueues.CompleteExport, message, QueueTriggerInfo.From(context), cancellationToken);

    private async Task HandleAsync(string queue, string body, QueueTriggerInfo trigger, CancellationToken cancellationToken)
    {
        var backendReady = await backend.GetAsync(cancellationToken);
        StageMessage message;
        try
        {
            message = StageQueues.Deserialize(BinaryData.FromString(body), queue);
        }
        catch (FormatException e)
        {
            // Retrying cannot make it a stage message: straight to the poison queue, whose function fails the run it names.
            await SendToPoisonAsync(backendReady, queue, body, cancellationToken);
            Log.NotAStageMessage(logger, queue, trigger.MessageId, StageQueues.Poison(queue), e.Message);
            return;
        }
        if (StageQueues.For(message) != queue)
        {
            await SendToPoisonAsync(backendReady, queue, body, cancellationToken);
            Log.WrongQueue(logger, queue, trigger.MessageId, message.GetType().Name, StageQueues.For(message), StageQueues.Poison(queue));
            return;
        }

        using var scope = logger.BeginScope(StageLog.Scope(queue, trigger, message));
        try
        {
            await backendReady.Stages.HandleAsync(message, cancellationToken);
        }
        catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            Log.StageFailed(logger, e, StageLog.Describe(message), message.RunId, queue, trigger.DequeueCount, QueueHostSettings.ForApp.MaxDequeueCount,
                StageQueues.Poison(queue), e.Message);
            throw;
        }
    }

    /// <summary>Moves a body to the queue's poison queue as the host would (same text, base64 like every stage message).</summary>
    private static async Task SendToPoisonAsync(AzureBackend backend, string queue, string body, CancellationToken cancellationToken)
    {
        var poison = backend.QueueService.GetQueueClient(StageQueues.Poison(queue));
        await poison.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        await poison.SendMessageAsync(body, cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Error,
            "Message {MessageId} on {Queue} is not a stage message and was moved to {PoisonQueue} without retries: {Error}")]
        public static partial void NotAStageMessage(ILogger logger, string queue, string messageId, string poisonQueue, string error);

        [LoggerMessage(201, LogLevel.Error,
            "Message {MessageId} on {Queue} is a {MessageType}, which belongs on {ExpectedQueue}; it was moved to {PoisonQueue} without retries")]
        public static partial void WrongQueue(ILogger logger, string queue, string messageId, string messageType, string expectedQueue, string poisonQueue);

        [LoggerMessage(202, LogLevel.Warning,
            "{Stage} of run {RunId} failed on {Queue} (delivery {DequeueCount} of {MaxDequeueCount}; after the last it moves to {PoisonQueue}): {Error}")]
        public static partial void StageFailed(ILogger logger, Exception exception, string stage, string runId, string queue, long dequeueCount,
            int maxDequeueCount, string poisonQueue, string error);
    }
}
