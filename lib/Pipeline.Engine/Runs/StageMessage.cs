using System.Text.Json.Serialization;

namespace Pipeline.Engine.Runs;

/// <summary>
/// A queue message between stages. Messages carry references (run id, slice, part), never rows,
/// so they stay far below the 64 KB queue limit whatever the audience size.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "stage")]
[JsonDerivedType(typeof(PlanExport), "plan")]
[JsonDerivedType(typeof(BuildSlice), "build")]
[JsonDerivedType(typeof(AssembleFiles), "assemble")]
[JsonDerivedType(typeof(UploadPart), "upload")]
[JsonDerivedType(typeof(CompleteExport), "complete")]
public abstract record StageMessage(string RunId)
{
    private readonly int _attempt = 1;

    /// <summary>The attempt of the run this message belongs to; a message of an earlier attempt is ignored.</summary>
    /// <remarks>
    /// A message without the field (sent before runs had attempts, or by another producer) is attempt 1: generated JSON
    /// metadata sets a missing init property to 0, which would otherwise make the message look like a stale attempt.
    /// </remarks>
    public int Attempt { get => _attempt; init => _attempt = Math.Max(1, value); }
}

public sealed record PlanExport(string RunId) : StageMessage(RunId);

public sealed record BuildSlice(string RunId, int Slice) : StageMessage(RunId);

public sealed record AssembleFiles(string RunId) : StageMessage(RunId);

public sealed record UploadPart(string RunId, int File, int Part) : StageMessage(RunId);

public sealed record CompleteExport(string RunId) : StageMessage(RunId);
