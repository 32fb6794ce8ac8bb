using Pipeline.Engine.Configuration;

namespace Pipeline.Cli;

/// <summary>
/// Runs the stale-upload sweep (<see cref="StaleUploads"/>, shared with the Functions app) when `run` starts and once
/// a day after, and prints what it did. Uploads younger than <see cref="MaxAge"/> are left alone.
/// </summary>
internal sealed class StaleUploadSweep(PipelineAdapters adapters, TimeProvider time)
{
    public static readonly TimeSpan MaxAge = StaleUploads.DefaultMaxAge;
    private static readonly TimeSpan Interval = TimeSpan.FromDays(1);
    private DateTimeOffset _next = DateTimeOffset.MinValue;

    public async Task RunIfDueAsync(PipelineConfig config, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now < _next) return;
        _next = now + Interval;
        foreach (var swept in await new StaleUploads(adapters).SweepAsync(config, now - MaxAge, cancellationToken))
        {
            if (swept.Error is { } error)
                Console.Error.WriteLine($"warning: could not sweep unfinished uploads of destination \"{swept.DestinationName}\": {error}");
            else if (swept.Aborted > 0)
                Console.WriteLine($"Swept {swept.Aborted} unfinished upload(s) older than {MaxAge.TotalDays:0} days from {swept.Destination.Display}.");
        }
    }
}
