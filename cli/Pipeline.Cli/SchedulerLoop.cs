using Pipeline.Azure.Storage;

namespace Pipeline.Cli;

/// <summary>
/// `pipeline run` without --once: tick, wait as long as the tick says, tick again, until Ctrl+C. A tick that fails on
/// an outage (Azure Storage unreachable) is reported and tried again a minute later rather than ending the scheduler:
/// what the tick finished is recorded, and the next tick resumes the rest. Any other failure ends it, as before.
/// </summary>
internal static class SchedulerLoop
{
    public static readonly TimeSpan RetryAfterOutage = TimeSpan.FromMinutes(1);

    /// <param name="tick">One tick, given its number (0 first); returns the wait before the next.</param>
    /// <param name="isOutage">Whether a tick's failure is an outage to wait out.</param>
    /// <param name="errors">Where an outage is reported (stderr).</param>
    public static async Task RunAsync(Func<int, CancellationToken, Task<TimeSpan>> tick, Func<Exception, bool> isOutage, TimeProvider time, TextWriter errors,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tick);
        ArgumentNullException.ThrowIfNull(isOutage);
        for (var n = 0; ; n++)
        {
            TimeSpan wait;
            try
            {
                wait = await tick(n, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && isOutage(e))
            {
                wait = RetryAfterOutage;
                await errors.WriteLineAsync($"{StorageOutage.Explain(e)}: this tick stopped; trying again in {wait.TotalSeconds:0} s. Finished work is kept.");
            }
            await Task.Delay(wait, time, cancellationToken);
        }
    }
}
