namespace Pipeline.Engine.Configuration;

/// <summary>
/// How a failed scheduled run is retried: up to <see cref="Attempts"/> more times, the first after <see cref="Backoff"/>,
/// each next one after twice the previous wait. Retries stop once the activation's next slot has been scheduled.
/// </summary>
public sealed record RetryPolicy(int Attempts, TimeSpan Backoff)
{
    public static readonly RetryPolicy Default = new(3, TimeSpan.FromMinutes(10));

    public static readonly RetryPolicy None = new(0, TimeSpan.Zero);

    public const int MaxAttempts = 20;

    /// <summary>Whether a run that failed at <paramref name="failedAttempt"/> may be tried again.</summary>
    public bool Allows(int failedAttempt) => failedAttempt <= Attempts;

    /// <summary>The wait after attempt <paramref name="failedAttempt"/> failed: Backoff, 2 x Backoff, 4 x Backoff, ...</summary>
    public TimeSpan DelayAfter(int failedAttempt) => Backoff * Math.Pow(2, Math.Clamp(failedAttempt - 1, 0, MaxAttempts));
}
