namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>
/// A clock that always reads the same instant, so the app and the local engine date a run (slot, manifest times)
/// identically; its timers are real, so retries, leases and heartbeats still fire.
/// </summary>
internal sealed class FrozenClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
