using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Errors;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Sweeping;

/// <summary>A multipart upload the sweeper aborted.</summary>
public sealed record SweptUpload(string Key, string UploadId, DateTimeOffset Initiated);

/// <summary>
/// Aborts multipart uploads under a destination's prefix that were started before a cutoff, so a customer
/// never pays for the parts of an export that died without aborting. The cutoff must be older than the
/// longest export can take (days, not minutes): an upload still in use would be lost.
/// </summary>
public sealed partial class S3UploadSweeper
{
    private readonly S3DestinationFactory _destinations;
    private readonly ILogger _logger;

    public S3UploadSweeper(S3DestinationFactory destinations)
    {
        _destinations = destinations;
        _logger = destinations.Loggers.CreateLogger<S3UploadSweeper>();
    }

    /// <summary>Lists every upload under the prefix (all pages), aborts those initiated before <paramref name="initiatedBefore"/>, returns them.</summary>
    public async Task<IReadOnlyList<SweptUpload>> SweepAsync(DestinationSpec destination, DateTimeOffset initiatedBefore, CancellationToken cancellationToken)
    {
        var s3 = _destinations.Sender(destination);
        var swept = new List<SweptUpload>();
        string? keyMarker = null, uploadIdMarker = null;
        while (true)
        {
            var list = new S3Call(S3Operations.ListMultipartUploads, s3.Bucket, destination.Prefix);
            var page = await s3.SendAsync(list,
                (client, ct) => client.ListMultipartUploadsAsync(s3.Requests.ListUploads(destination.Prefix, keyMarker, uploadIdMarker), ct), cancellationToken);
            // Every ListMultipartUploadsResult names its bucket; a store that ignores ?uploads and lists objects does not.
            if (string.IsNullOrEmpty(page.BucketName))
                throw new DestinationException(S3Errors.Unsupported(list, destination, s3.Connection, "something other than a ListMultipartUploadsResult"));
            foreach (var upload in page.MultipartUploads ?? [])
            {
                // An upload of unknown age is never aborted: it may be in use.
                if (upload.Initiated is not { } initiated || upload.Key is null || upload.UploadId is null) continue;
                var started = new DateTimeOffset(initiated.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(initiated, DateTimeKind.Utc) : initiated.ToUniversalTime());
                if (started >= initiatedBefore) continue;
                if (await AbortAsync(s3, upload.Key, upload.UploadId, cancellationToken))
                {
                    swept.Add(new SweptUpload(upload.Key, upload.UploadId, started));
                    Log.Swept(_logger, $"s3://{s3.Bucket}/{upload.Key}", upload.UploadId, started);
                }
            }
            if (page.IsTruncated != true) break;
            // A store that says "more" without saying where to continue would loop forever.
            if (page.NextKeyMarker is null || (page.NextKeyMarker == keyMarker && page.NextUploadIdMarker == uploadIdMarker)) break;
            keyMarker = page.NextKeyMarker;
            uploadIdMarker = page.NextUploadIdMarker;
        }
        return swept;
    }

    /// <summary>False when the upload is already gone (completed or aborted meanwhile).</summary>
    private static async Task<bool> AbortAsync(S3Sender s3, string key, string uploadId, CancellationToken cancellationToken)
    {
        var call = new S3Call(S3Operations.AbortMultipartUpload, s3.Bucket, key, uploadId);
        try
        {
            await s3.SendRawAsync(call, (client, ct) => client.AbortMultipartUploadAsync(s3.Requests.Abort(key, uploadId), ct), cancellationToken);
            return true;
        }
        catch (AmazonServiceException e) when (S3Errors.IsNoSuchUpload(e))
        {
            return false;
        }
        catch (AmazonServiceException e) when (s3.TryExplain(e, call, out var explained))
        {
            throw explained;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Aborted stale multipart upload {UploadId} of {Target}, started {Initiated}")]
        public static partial void Swept(ILogger logger, string target, string uploadId, DateTimeOffset initiated);
    }
}
