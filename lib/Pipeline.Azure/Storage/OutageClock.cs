namespace Pipeline.Azure.Storage;

/// <summary>
/// How long to wait out a storage outage, and when to give up: the outage runs from the first failure after the
/// account last answered, and each wait is half of it so far (at least 1 s, at most 15 s). Failures further apart than
/// one wait plus the longest a call keeps retrying by itself are separate outages: the account answered in between.
/// </summary>
public sealed class OutageClock(TimeSpan limit, TimeProvider time)
{
    /// <summary>The longest one storage call keeps retrying before it fails (<see cref="StorageOutage.WithRetries"/>: 6 tries of at most 30 s, and the waits), with room to spare.</summary>
    public static readonly TimeSpan OneCallGivesUpWithin = TimeSpan.FromMinutes(4);

    private DateTimeOffset? _since;
    private DateTimeOffset _lastFailure = DateTimeOffset.MinValue;
    private TimeSpan _delay;

    /// <summary>How long the account has been unreachable, as of the last failure.</summary>
    public TimeSpan Unreachable { get; private set; }

    /// <summary>The account answered: the next failure starts a new outage.</summary>
    public void Reachable() => _since = null;

    /// <summary>A call failed on an outage: how long to wait before trying again, or null when the outage has lasted the limit.</summary>
    public TimeSpan? Failed()
    {
        var now = time.GetUtcNow();
        if (now - _lastFailure > _delay + OneCallGivesUpWithin) _since = null;
        _since ??= now;
        _lastFailure = now;
        Unreachable = now - _since.Value;
        if (Unreachable >= limit) return null;
        _delay = TimeSpan.FromSeconds(Math.Min(15, Math.Max(1, Unreachable.TotalSeconds / 2)));
        return _delay;
    }
}
