using System.Globalization;
using System.Text.Json.Nodes;

namespace Pipeline.Functions;

/// <summary>
/// The queue settings of the app's <c>host.json</c> (<c>extensions.queues</c>), which the Functions host applies: the
/// poison functions quote <see cref="MaxDequeueCount"/> in a run's error, and tests serve the queues with the same values.
/// </summary>
public sealed record QueueHostSettings
{
    public const string FileName = "host.json";

    /// <summary>The host's defaults, for a host.json that leaves a value out.</summary>
    public static QueueHostSettings Defaults { get; } = new();

    public int BatchSize { get; init; } = 16;
    public int NewBatchThreshold { get; init; } = 8;
    public int MaxDequeueCount { get; init; } = 5;
    public TimeSpan VisibilityTimeout { get; init; } = TimeSpan.Zero;
    public TimeSpan MaxPollingInterval { get; init; } = TimeSpan.FromMinutes(1);
    public string MessageEncoding { get; init; } = "base64";
    public TimeSpan? FunctionTimeout { get; init; }

    /// <summary>The host.json deployed next to the app's assembly (it is linked from the repository root), or the defaults.</summary>
    public static QueueHostSettings ForApp { get; } = LoadOrDefaults(Path.Combine(AppContext.BaseDirectory, FileName));

    public static QueueHostSettings LoadOrDefaults(string path) => File.Exists(path) ? Parse(File.ReadAllText(path)) : Defaults;

    public static QueueHostSettings Parse(string hostJson)
    {
        var root = JsonNode.Parse(hostJson, documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })
                   ?? throw new FormatException("host.json is empty.");
        var queues = root["extensions"]?["queues"];
        var defaults = Defaults;
        return new QueueHostSettings
        {
            BatchSize = (int?)queues?["batchSize"] ?? defaults.BatchSize,
            NewBatchThreshold = (int?)queues?["newBatchThreshold"] ?? ((int?)queues?["batchSize"] ?? defaults.BatchSize) / 2,
            MaxDequeueCount = (int?)queues?["maxDequeueCount"] ?? defaults.MaxDequeueCount,
            VisibilityTimeout = Duration(queues?["visibilityTimeout"]) ?? defaults.VisibilityTimeout,
            MaxPollingInterval = Duration(queues?["maxPollingInterval"]) ?? defaults.MaxPollingInterval,
            MessageEncoding = (string?)queues?["messageEncoding"] ?? defaults.MessageEncoding,
            FunctionTimeout = Duration(root["functionTimeout"]),
        };
    }

    private static TimeSpan? Duration(JsonNode? node) =>
        node is null ? null : TimeSpan.Parse((string)node!, CultureInfo.InvariantCulture);
}
