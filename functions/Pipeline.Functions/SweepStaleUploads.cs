using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Building;
using Pipeline.Hosting;

namespace Pipeline.Functions;

/// <summary>
/// Daily: aborts multipart uploads older than <c>Pipeline__StaleUploadAge</c> (default 7 days) under every destination
/// of the published config, and deletes staging blobs older than that which no unfinished run owns: what runs that
/// died without cleaning up left behind. The same sweep as the CLI's (<see cref="StaleUploads"/>).
/// </summary>
public sealed partial class SweepStaleUploads(PipelineBackend backend, ILogger<SweepStaleUploads> logger)
{
    /// <summary>03:30 UTC, away from the 02:00 slots that exports favour.</summary>
    public const string Schedule = "0 30 3 * * *";

    [Function(nameof(SweepStaleUploads))]
    public async Task Run([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        var pipeline = await backend.GetAsync(cancellationToken);
        var age = backend.Settings.StaleUploadAge;
        var olderThan = backend.Time.GetUtcNow() - age;

        if ((await pipeline.Config.LoadAsync(cancellationToken)).Config is { } config)
        {
            foreach (var swept in await new StaleUploads(pipeline.Adapters).SweepAsync(config, olderThan, cancellationToken))
            {
                if (swept.Error is { } error) Log.DestinationNotSwept(logger, swept.DestinationName, error);
                else if (swept.Aborted > 0) Log.UploadsAborted(logger, swept.Aborted, swept.DestinationName, age);
            }
        }
        else
        {
            Log.NoConfig(logger, pipeline.Config.Location);
        }

        var live = (await pipeline.Store.ListUnfinishedRunsAsync(cancellationToken)).Select(r => StagingKeys.RunPrefix(r.ProgressId)).ToList();
        var staging = new BlobStagingStore(pipeline.Connection.CreateBlobServiceClient());
        var deleted = await staging.DeleteOlderThanAsync(olderThan, live, cancellationToken);
        if (deleted > 0) Log.StagingDeleted(logger, deleted, age);
    }

    private static partial class Log
    {
        [LoggerMessage(600, LogLevel.Warning, "Aborted {Count} unfinished upload(s) older than {Age} under destination {Destination}")]
        public static partial void UploadsAborted(ILogger logger, int count, string destination, TimeSpan age);

        [LoggerMessage(601, LogLevel.Warning, "Could not sweep unfinished uploads of destination {Destination}: {Error}")]
        public static partial void DestinationNotSwept(ILogger logger, string destination, string error);

        [LoggerMessage(602, LogLevel.Warning, "Deleted {Count} staging blob(s) older than {Age} that no unfinished run owns")]
        public static partial void StagingDeleted(ILogger logger, int count, TimeSpan age);

        [LoggerMessage(603, LogLevel.Warning, "No config has loaded from {ConfigBlob}: destinations were not swept, staging was")]
        public static partial void NoConfig(ILogger logger, string configBlob);
    }
}
