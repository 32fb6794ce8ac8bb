using System.Net;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using Pipeline.S3.Errors;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Delivery;

public sealed partial class S3Destination
{
    /// <summary>
    /// S3 assigns upload ids, so an upload started by an attempt that died before recording it can only be found by
    /// listing: the uploads of exactly <paramref name="key"/> (listed with the key as prefix) that aren't the recorded one
    /// are aborted. Two runs writing the same key at once would overwrite each other's file anyway, so any such upload is
    /// litter. Best effort: a store that cannot list uploads (or a writer not allowed to) leaves them to the stale-upload sweep.
    /// </summary>
    public async Task AbortUnrecordedAsync(string runId, string key, string? keepUploadId, CancellationToken cancellationToken)
    {
        var list = new S3Call(S3Operations.ListMultipartUploads, Bucket, key);
        string? keyMarker = null, uploadIdMarker = null;
        try
        {
            while (true)
            {
                var page = await _s3.SendRawAsync(list,
                    (client, ct) => client.ListMultipartUploadsAsync(_requests.ListUploads(key, keyMarker, uploadIdMarker), ct), cancellationToken);
                // Every ListMultipartUploadsResult names its bucket; a store that ignores ?uploads and lists objects does not.
                if (string.IsNullOrEmpty(page.BucketName))
                {
                    Log.UnrecordedLeftToSweep(_logger, runId, Describe(key), "the store answered ListMultipartUploads with something else");
                    return;
                }
                foreach (var upload in page.MultipartUploads ?? [])
                {
                    if (upload.Key != key || upload.UploadId is null || upload.UploadId == keepUploadId) continue;
                    await AbortFileAsync(key, upload.UploadId, cancellationToken);
                    Log.AbortedUnrecorded(_logger, runId, Describe(key), upload.UploadId);
                }
                // A store that says "more" without saying where to continue would loop forever.
                if (page.IsTruncated != true || page.NextKeyMarker is null || (page.NextKeyMarker == keyMarker && page.NextUploadIdMarker == uploadIdMarker)) return;
                keyMarker = page.NextKeyMarker;
                uploadIdMarker = page.NextUploadIdMarker;
            }
        }
        catch (AmazonServiceException e) when (IsUnavailable(e))
        {
            Log.UnrecordedLeftToSweep(_logger, runId, Describe(key), $"ListMultipartUploads answered {(int)e.StatusCode} {e.ErrorCode}");
        }
    }

    /// <summary>Not supported by the store, or not allowed to this writer (s3:ListBucketMultipartUploads is optional).</summary>
    private static bool IsUnavailable(AmazonServiceException e) =>
        e.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented or HttpStatusCode.NotFound
        || e.ErrorCode is "NotImplemented" or "MethodNotAllowed"
        || S3Errors.IsAccessDenied(e);

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Information, "Run {RunId}: aborted multipart upload {UploadId} of {Target}, started by an attempt that died before recording it")]
        public static partial void AbortedUnrecorded(ILogger logger, string runId, string target, string uploadId);

        [LoggerMessage(21, LogLevel.Debug, "Run {RunId}: cannot look for unrecorded uploads of {Target} ({Reason}); the stale-upload sweep removes them")]
        public static partial void UnrecordedLeftToSweep(ILogger logger, string runId, string target, string reason);
    }
}
