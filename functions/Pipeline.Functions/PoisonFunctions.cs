using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Runs;

namespace Pipeline.Functions;

/// <summary>
/// One function per poison queue. A message lands there after it failed <c>maxDequeueCount</c> times (or at once when it
/// is no stage message): retrying cannot help, so its run fails with the reason, its multipart uploads are aborted and
/// its staging deleted, and the run's error says what happened where (`pipeline runs`, and the logs).
/// </summary>
public sealed partial class PoisonFunctions(PipelineBackend backend, ILogger<PoisonFunctions> logger)
{
    [Function(nameof(PlanExportPoison))]
    public Task PlanExportPoison([QueueTrigger(StageQueues.PlanExport + StageQueues.PoisonSuffix, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        FailRunAsync(StageQueues.PlanExport, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(BuildSlicePoison))]
    public Task BuildSlicePoison([QueueTrigger(StageQueues.BuildSlice + StageQueues.PoisonSuffix, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        FailRunAsync(StageQueues.BuildSlice, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(AssembleFilesPoison))]
    public Task AssembleFilesPoison([QueueTrigger(StageQueues.AssembleFiles + StageQueues.PoisonSuffix, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        FailRunAsync(StageQueues.AssembleFiles, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(UploadPartPoison))]
    public Task UploadPartPoison([QueueTrigger(StageQueues.UploadPart + StageQueues.PoisonSuffix, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        FailRunAsync(StageQueues.UploadPart, message, QueueTriggerInfo.From(context), cancellationToken);

    [Function(nameof(CompleteExportPoison))]
    public Task CompleteExportPoison([QueueTrigger(StageQueues.CompleteExport + StageQueues.PoisonSuffix, Connection = StorageConnection.DefaultSetting)] string message,
        FunctionContext context, CancellationToken cancellationToken) =>
        FailRunAsync(StageQueues.CompleteExport, message, QueueTriggerInfo.From(context), cancellationToken);

    private async Task FailRunAsync(string queue, string body, QueueTriggerInfo trigger, CancellationToken cancellationToken)
    {
        var poisonQueue = StageQueues.Poison(queue);
        var pipeline = await backend.GetAsync(cancellationToken);
        var stages = pipeline.Stages;
        StageMessage message;
        try
        {
            message = StageQueues.Deserialize(BinaryData.FromString(body), queue);
        }
        catch (FormatException e)
        {
            // No stage message, but it may still name its run: that run cannot go on as its producer meant, so it fails visibly.
            if (RunOf(body) is not ({ } runId, var attempt))
            {
                Log.Unreadable(logger, poisonQueue, trigger.MessageId, e.Message);
                return;
            }
            await stages.FailRunAsync(runId, attempt,
                $"A message for this run on queue {queue} is not a stage message ({e.Message}); it was moved to {poisonQueue}. " +
                "Check that every producer of the stage queues runs this version of the pipeline, then retry the run (`pipeline retry RUN_ID`).",
                CancellationToken.None);
            Log.UnreadableRunFailed(logger, poisonQueue, trigger.MessageId, runId, e.Message);
            return;
        }

        var maxDequeueCount = QueueHostSettings.ForApp.MaxDequeueCount;
        var activation = StageLog.ActivationOf(message.RunId);
        using var scope = logger.BeginScope(StageLog.Scope(poisonQueue, trigger, message));
        var reason =
            $"{StageLog.Describe(message)} failed {maxDequeueCount} times on queue {queue} (host.json maxDequeueCount) and was moved to {poisonQueue}; " +
            $"the error of each try is logged by function {FunctionOf(queue)} with this run id. " +
            "The run's uploads were aborted and its staging deleted; the activation's retry policy retries it, or run `pipeline retry RUN_ID`.";
        // Not the invocation's token: a shutdown between marking the run failed and aborting its uploads would leave them behind.
        await stages.FailRunAsync(message.RunId, message.Attempt, reason, CancellationToken.None);
        // A late message of an earlier attempt, or of a run that finished meanwhile, fails nothing: say so rather than claim it.
        if (await pipeline.Store.GetRunAsync(message.RunId, cancellationToken) is not { Status: RunStatus.Failed } run || run.Attempt != message.Attempt || run.Error != reason)
        {
            Log.NothingToFail(logger, message.RunId, message.Attempt, StageLog.Describe(message), poisonQueue);
            return;
        }
        Log.RunFailed(logger, message.RunId, activation ?? "(unknown)", message.Attempt, StageLog.Describe(message), queue, poisonQueue, maxDequeueCount);
    }

    private static string FunctionOf(string queue) => queue switch
    {
        StageQueues.PlanExport => nameof(StageFunctions.PlanExport),
        StageQueues.BuildSlice => nameof(StageFunctions.BuildSlice),
        StageQueues.AssembleFiles => nameof(StageFunctions.AssembleFiles),
        StageQueues.UploadPart => nameof(StageFunctions.UploadPart),
        _ => nameof(StageFunctions.CompleteExport),
    };

    /// <summary>The run id and attempt a JSON message names, even when it is not a stage message (an unknown stage, say).</summary>
    private static (string RunId, int Attempt)? RunOf(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind != JsonValueKind.Object
                || !json.RootElement.TryGetProperty("runId", out var runId) || runId.ValueKind != JsonValueKind.String
                || string.IsNullOrWhiteSpace(runId.GetString()))
                return null;
            var attempt = json.RootElement.TryGetProperty("attempt", out var a) && a.TryGetInt32(out var n) ? Math.Max(1, n) : 1;
            return (runId.GetString()!, attempt);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Error,
            "Run {RunId} of activation {ActivationId} (attempt {Attempt}) failed: {Stage} failed {MaxDequeueCount} times on {Queue} and went to {PoisonQueue}. " +
            "Its uploads were aborted and its staging deleted. The cause is in the earlier errors of this run id; fix it, then let the retry policy retry the run or run `pipeline retry {RunId}`")]
        public static partial void RunFailed(ILogger logger, string runId, string activationId, int attempt, string stage, string queue, string poisonQueue,
            int maxDequeueCount);

        [LoggerMessage(303, LogLevel.Warning,
            "A poisoned {Stage} message of run {RunId} (attempt {Attempt}) on {PoisonQueue} found the run finished or on a newer attempt; nothing was failed")]
        public static partial void NothingToFail(ILogger logger, string runId, int attempt, string stage, string poisonQueue);

        [LoggerMessage(301, LogLevel.Error, "Message {MessageId} on {PoisonQueue} is not a stage message and names no run; it is dropped: {Error}")]
        public static partial void Unreadable(ILogger logger, string poisonQueue, string messageId, string error);

        [LoggerMessage(302, LogLevel.Error, "Message {MessageId} on {PoisonQueue} is not a stage message; run {RunId}, which it names, was failed: {Error}")]
        public static partial void UnreadableRunFailed(ILogger logger, string poisonQueue, string messageId, string runId, string error);
    }
}
