using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Local;
using Pipeline.S3.Sweeping;

namespace Pipeline.Hosting;

/// <summary>What sweeping one destination did: how many uploads it aborted, or why it could not sweep.</summary>
public sealed record StaleUploadSweep(string DestinationName, DestinationSpec Destination, int Aborted, string? Error);

/// <summary>
/// Aborts uploads that no run will finish (a process killed between starting an upload and recording it), so no
/// customer pays for orphaned multipart parts: S3 uploads under each destination's prefix, and a local folder's
/// <c>.incomplete/</c> files. The CLI's <c>run</c> and the Functions app's daily <c>SweepStaleUploads</c> both call it.
/// Uploads younger than the age given are left alone: they may belong to a run in progress.
/// </summary>
public sealed class StaleUploads(PipelineAdapters adapters)
{
    /// <summary>Default age past which an unfinished upload is stale: far longer than any run takes.</summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromDays(7);

    /// <summary>Sweeps every destination of <paramref name="config"/>; one that cannot be swept is reported, never thrown.</summary>
    public async Task<IReadOnlyList<StaleUploadSweep>> SweepAsync(PipelineConfig config, DateTimeOffset startedBefore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        var sweeper = new S3UploadSweeper(adapters.S3);
        var results = new List<StaleUploadSweep>();
        foreach (var (name, destination) in config.Destinations)
        {
            try
            {
                var count = destination.Type == DestinationSpec.S3Type
                    ? (await sweeper.SweepAsync(destination, startedBefore, cancellationToken)).Count
                    : new LocalFolderDestination(destination.Location).SweepIncomplete(startedBefore);
                results.Add(new StaleUploadSweep(name, destination, count, null));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Sweeping is housekeeping: any failure (a store's 5xx after retries too) leaves the other destinations and the exports going.
                results.Add(new StaleUploadSweep(name, destination, 0, e.Message));
            }
        }
        return results;
    }
}
