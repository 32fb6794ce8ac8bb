using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Local;
using Pipeline.S3.Sweeping;

namespace Pipeline.Cli;

/// <summary>
/// Aborts uploads that no run will finish (a process killed between starting an upload and recording it),
/// so no customer pays for orphaned multipart parts. Runs when `run` starts and once a day after.
/// Uploads younger than <see cref="MaxAge"/> are left alone: they may belong to a run in progress.
/// </summary>
internal sealed class StaleUploadSweep(PipelineAdapters adapters, TimeProvider time)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromDays(7);
    private static readonly TimeSpan Interval = TimeSpan.FromDays(1);
    private DateTimeOffset _next = DateTimeOffset.MinValue;

    public async Task RunIfDueAsync(PipelineConfig config, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now < _next) return;
        _next = now + Interval;
        var sweeper = new S3UploadSweeper(adapters.S3);
        foreach (var (name, destination) in config.Destinations)
        {
            try
            {
                var count = destination.Type == DestinationSpec.S3Type
                    ? (await sweeper.SweepAsync(destination, now - MaxAge, cancellationToken)).Count
                    : new LocalFolderDestination(destination.Location).SweepIncomplete(now - MaxAge);
                if (count > 0) Console.WriteLine($"Swept {count} unfinished upload(s) older than {MaxAge.TotalDays:0} days from {destination.Display}.");
            }
            catch (Exception e) when (e is DestinationException or SecretException or IOException or UnauthorizedAccessException)
            {
                // Sweeping is housekeeping: exports go on, and the user learns what to grant.
                Console.Error.WriteLine($"warning: could not sweep unfinished uploads of destination \"{name}\": {e.Message}");
            }
        }
    }
}
