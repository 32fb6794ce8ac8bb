using System.Text;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Specialized;
using Pipeline.Engine;
using Pipeline.Engine.Runs;

namespace Pipeline.Azure.Storage;

/// <summary>
/// The Storage queues between stages, one per stage so the Functions app scales each separately, and how a message
/// is written on them: <see cref="EngineJson"/> text, base64-encoded, which is what a queue trigger decodes by default.
/// </summary>
public static class StageQueues
{
    public const string PlanExport = "plan-export";
    public const string BuildSlice = "build-slice";
    public const string AssembleFiles = "assemble-files";
    public const string UploadPart = "upload-part";
    public const string CompleteExport = "complete-export";

    /// <summary>Where the host (and <see cref="StageQueueProcessor"/>) moves a message that failed its last attempt.</summary>
    public const string PoisonSuffix = "-poison";

    public static IReadOnlyList<string> All { get; } = [PlanExport, BuildSlice, AssembleFiles, UploadPart, CompleteExport];

    public static string Poison(string queue) => queue + PoisonSuffix;

    public static string For(StageMessage message) => message switch
    {
        Engine.Runs.PlanExport => PlanExport,
        Engine.Runs.BuildSlice => BuildSlice,
        Engine.Runs.AssembleFiles => AssembleFiles,
        Engine.Runs.UploadPart => UploadPart,
        Engine.Runs.CompleteExport => CompleteExport,
        _ => throw new ArgumentException($"No stage queue for {message.GetType().Name}.", nameof(message)),
    };

    /// <summary>
    /// Options for every stage queue client: base64 bodies, like the Functions queue trigger's default. A received
    /// message that is not base64 is moved to the poison queue at once, as the host's queue extension does. Retries
    /// as every pipeline client retries (<see cref="StorageOutage.WithRetries"/>).
    /// </summary>
    public static QueueClientOptions ClientOptions()
    {
        var options = StorageOutage.WithRetries(new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        options.MessageDecodingFailed += MoveUndecodableToPoisonAsync;
        return options;
    }

    private static async Task MoveUndecodableToPoisonAsync(QueueMessageDecodingFailedEventArgs args)
    {
        // On a poison queue too (it is parked in <queue>-poison-poison): left there, it would come back forever, and a
        // process waiting for the queues to empty would wait forever.
        if (args.ReceivedMessage is not { } message) return;
        var poison = args.Queue.GetParentQueueServiceClient().GetQueueClient(Poison(args.Queue.Name));
        await poison.CreateIfNotExistsAsync(cancellationToken: args.CancellationToken);
        await poison.SendMessageAsync(message.Body, cancellationToken: args.CancellationToken);
        await args.Queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, args.CancellationToken);
    }

    /// <summary>The message text before the client's base64 encoding.</summary>
    public static string Serialize(StageMessage message) => EngineJson.Serialize(message);

    public static StageMessage Deserialize(BinaryData body, string queue)
    {
        try
        {
            return EngineJson.Deserialize<StageMessage>(body.ToString());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException or DecoderFallbackException)
        {
            throw new FormatException($"A message on queue {queue} is not a stage message: {e.Message}", e);
        }
    }
}
