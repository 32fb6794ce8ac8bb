namespace Pipeline.S3.Probing;

public enum ProbeStatus
{
    /// <summary>The check passed.</summary>
    Ok,
    /// <summary>Exports work, but something around them does not (cleanup, sweeping, a region we could not verify).</summary>
    Warning,
    /// <summary>Exports to this destination will fail until this is fixed.</summary>
    Problem,
}

/// <summary>One result of <see cref="S3DestinationProbe"/>: which check, what it found, and the fix (an IAM statement where one helps).</summary>
public sealed record ProbeFinding(ProbeStatus Status, string Check, string Message, string? Fix = null)
{
    public override string ToString() =>
        Fix is null ? $"[{Status}] {Check}: {Message}" : $"[{Status}] {Check}: {Message}\n{Fix}";
}
