namespace Pipeline.S3.Resilience;

/// <summary>
/// How S3 requests are retried. The AWS SDK's own retries are off (MaxErrorRetry = 0), so these are
/// the only ones: exponential backoff with jitter on throttling, 5xx, timeouts and dropped connections.
/// </summary>
public sealed record S3RetryOptions
{
    /// <summary>Retries after the first attempt (so up to MaxRetries + 1 requests).</summary>
    public int MaxRetries { get; init; } = 6;

    /// <summary>First backoff delay; doubles per retry (with jitter). Zero retries at once (tests).</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Upper bound of one backoff delay.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Time allowed for one attempt of one request. A part is at most a few hundred MiB in practice
    /// (10,000 parts cover 1 TB at 100 MiB), so five minutes means a link slower than ~0.3 MiB/s.
    /// </summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Time allowed to open a connection; a dead endpoint fails fast and is retried.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad value.</summary>
    public S3RetryOptions Validate()
    {
        if (MaxRetries is < 0 or > 50)
            throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "Must be between 0 and 50.");
        if (BaseDelay < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(BaseDelay), BaseDelay, "Must not be negative.");
        if (MaxDelay < BaseDelay)
            throw new ArgumentOutOfRangeException(nameof(MaxDelay), MaxDelay, "Must be at least BaseDelay.");
        // Polly's timeout strategy accepts (0, 24h].
        if (AttemptTimeout <= TimeSpan.Zero || AttemptTimeout > TimeSpan.FromHours(24))
            throw new ArgumentOutOfRangeException(nameof(AttemptTimeout), AttemptTimeout, "Must be more than zero and at most 24 hours.");
        if (ConnectTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "Must be more than zero.");
        return this;
    }
}
