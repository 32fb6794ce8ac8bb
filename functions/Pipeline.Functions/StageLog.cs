using System.Text.RegularExpressions;
using Microsoft.Azure.Functions.Worker;
using Pipeline.Engine.Runs;

namespace Pipeline.Functions;

/// <summary>What the logs of one stage message carry as structured fields: queue, message, run, activation, slice, file and part.</summary>
public static partial class StageLog
{
    /// <summary>The log scope of a message; every line the engine writes while handling it carries these fields.</summary>
    public static Dictionary<string, object> Scope(string queue, QueueTriggerInfo trigger, StageMessage message)
    {
        var scope = new Dictionary<string, object>
        {
            ["Queue"] = queue,
            ["MessageId"] = trigger.MessageId,
            ["DequeueCount"] = trigger.DequeueCount,
            ["RunId"] = message.RunId,
            ["Attempt"] = message.Attempt,
        };
        if (ActivationOf(message.RunId) is { } activation) scope["ActivationId"] = activation;
        switch (message)
        {
            case BuildSlice b:
                scope["Slice"] = b.Slice;
                break;
            case UploadPart u:
                scope["File"] = u.File;
                scope["Part"] = u.Part;
                break;
        }
        return scope;
    }

    /// <summary>The activation of a scheduled run, from its id (<see cref="RunIds.ForSlot"/>: activation, UTC slot, hash); null for another id.</summary>
    public static string? ActivationOf(string runId)
    {
        var match = ScheduledRunId().Match(runId);
        return match.Success ? match.Groups["activation"].Value : null;
    }

    /// <summary>What a message refers to, for an operator: "BuildSlice slice 3", "UploadPart file 1 part 7".</summary>
    public static string Describe(StageMessage message) => message switch
    {
        BuildSlice b => $"BuildSlice slice {b.Slice}",
        UploadPart u => $"UploadPart file {u.File} part {u.Part}",
        _ => message.GetType().Name,
    };

    [GeneratedRegex(@"^(?<activation>.+)-\d{8}T\d{6}Z-[0-9a-f]{8}$", RegexOptions.CultureInvariant)]
    private static partial Regex ScheduledRunId();
}

/// <summary>The queue trigger's metadata for one message (the host passes it in the binding data).</summary>
public sealed record QueueTriggerInfo(string MessageId, long DequeueCount)
{
    public static QueueTriggerInfo From(FunctionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var data = context.BindingContext.BindingData;
        var id = data.TryGetValue("Id", out var idValue) ? Text(idValue) : null;
        var count = data.TryGetValue("DequeueCount", out var countValue) && long.TryParse(Text(countValue), System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
        return new QueueTriggerInfo(id ?? "unknown", count);
    }

    // The host sends metadata as JSON text: a string arrives quoted.
    private static string? Text(object? value) => value?.ToString()?.Trim('"');
}
