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
    /// <summary>The attempt of the run this message belongs to; a message of an earlier attempt is ignored.</summary>
    public int Attempt { get; init; } = 1;
}

public sealed record PlanExport(string RunId) : StageMessage(RunId);

public sealed record BuildSlice(string RunId, int Slice) : StageMessage(RunId);

public sealed record AssembleFiles(string RunId) : StageMessage(RunId);

public sealed record UploadPart(string RunId, int File, int Part) : StageMessage(RunId);

public sealed record CompleteExport(string RunId) : StageMessage(RunId);
