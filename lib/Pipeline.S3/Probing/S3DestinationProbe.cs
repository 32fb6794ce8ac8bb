using System.Globalization;
using System.Text;
using Amazon.Runtime;
using System.Net;
using Amazon.S3.Model;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Errors;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Probing;

/// <summary>
/// What `pipeline validate` asks of an S3 destination, checked with the real requests an export sends:
/// credentials resolve; the bucket exists and is in the configured region; a probe object can be written
/// under the prefix (with the crossAccount ACL and ExpectedBucketOwner, encryption and storage class) and
/// deleted; a multipart upload can be started and aborted; stale uploads can be listed for sweeping.
/// Every refusal names the missing permission and the IAM statement that grants it.
/// </summary>
public sealed class S3DestinationProbe
{
    public const string ProbeKeyPrefix = ".pipeline-probe-";

    private readonly S3DestinationFactory _destinations;

    public S3DestinationProbe(S3DestinationFactory destinations) => _destinations = destinations;

    public async Task<IReadOnlyList<ProbeFinding>> ProbeAsync(DestinationSpec destination, CancellationToken cancellationToken)
    {
        var findings = new List<ProbeFinding>();
        var s3 = _destinations.Sender(destination);
        var options = destination.S3 ?? new S3DestinationOptions();

        try
        {
            await _destinations.Clients.GetClientAsync(destination, cancellationToken);
            findings.Add(new(ProbeStatus.Ok, "credentials", $"Credentials for mode {options.Credentials} resolved."));
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // SecretException and DestinationException explain themselves; anything else (an STS outage) is named as it is.
            findings.Add(new(ProbeStatus.Problem, "credentials", e is SecretException or DestinationException ? e.Message : $"Could not get credentials for mode {options.Credentials}: {e.Message}"));
            return findings;
        }

        if (!await CheckBucketAsync(s3, findings, cancellationToken)) return findings;

        var now = _destinations.Time.GetUtcNow();
        var key = $"{destination.Prefix}{ProbeKeyPrefix}{now.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}.txt";
        var body = Encoding.UTF8.GetBytes($"Written by `pipeline validate` at {now:O} to check write access; safe to delete.\n");
        var put = new S3Call(S3Operations.PutObject, s3.Bucket, key);
        var sha = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(body));
        if (!await TryAsync(s3, put, findings, "write", ProbeStatus.Problem,
                (client, ct) => client.PutObjectAsync(s3.Requests.Put(key, body, sha, new ObjectProperties("text/plain; charset=utf-8", null)), ct), cancellationToken))
            return findings;
        findings.Add(new(ProbeStatus.Ok, "write", $"Wrote {put.Target}{WriteDetails(options)}."));

        var delete = new S3Call(S3Operations.DeleteObject, s3.Bucket, key);
        if (await TryAsync(s3, delete, findings, "cleanup", ProbeStatus.Warning,
                (client, ct) => client.DeleteObjectAsync(s3.Requests.Delete(key), ct), cancellationToken,
                note: $" Exports do not need s3:DeleteObject; delete {put.Target} by hand, or grant it so validate cleans up after itself."))
            findings.Add(new(ProbeStatus.Ok, "cleanup", $"Deleted {put.Target}."));

        await CheckMultipartAsync(s3, key, findings, cancellationToken);

        const string sweepNote = " Without it, uploads left by crashed exports cannot be swept: grant it, or add a lifecycle rule AbortIncompleteMultipartUpload (e.g. 7 days) to the bucket.";
        var list = new S3Call(S3Operations.ListMultipartUploads, s3.Bucket, destination.Prefix);
        Amazon.S3.Model.ListMultipartUploadsResponse? listing = null;
        if (await TryAsync(s3, list, findings, "sweep", ProbeStatus.Warning,
                async (client, ct) => listing = await client.ListMultipartUploadsAsync(s3.Requests.ListUploads(destination.Prefix, null, null), ct), cancellationToken,
                note: sweepNote))
        {
            // Every ListMultipartUploadsResult names its bucket; a store that ignores ?uploads and lists objects does not.
            findings.Add(string.IsNullOrEmpty(listing!.BucketName)
                ? new(ProbeStatus.Warning, "sweep", S3Errors.Unsupported(list, destination, s3.Connection, "something other than a ListMultipartUploadsResult") + sweepNote)
                : new(ProbeStatus.Ok, "sweep", $"Can list multipart uploads under s3://{s3.Bucket}/{destination.Prefix} to sweep stale ones."));
        }
        return findings;
    }

    /// <summary>
    /// Exists, reachable, in the configured region: GetBucketLocation (s3:GetBucketLocation, which `pipeline policy`
    /// grants), else HeadBucket (s3:ListBucket). False when nothing further can work.
    /// </summary>
    private static async Task<bool> CheckBucketAsync(S3Sender s3, List<ProbeFinding> findings, CancellationToken cancellationToken)
    {
        var location = new S3Call(S3Operations.GetBucketLocation, s3.Bucket);
        try
        {
            var response = await s3.SendRawAsync(location, (client, ct) => client.GetBucketLocationAsync(s3.Requests.BucketLocation(), ct), cancellationToken);
            return CheckRegion(s3, findings, RegionOf(response.Location?.Value));
        }
        catch (AmazonServiceException e) when (IsDeniedOrUnsupported(e))
        {
            // Not granted, or a store without it: HeadBucket may still tell.
        }
        catch (AmazonServiceException e) when (BucketProblem(s3, e, location) is { } problem)
        {
            findings.Add(problem);
            return false;
        }

        var head = new S3Call(S3Operations.HeadBucket, s3.Bucket);
        try
        {
            var response = await s3.SendRawAsync(head, (client, ct) => client.HeadBucketAsync(s3.Requests.HeadBucket(), ct), cancellationToken);
            return CheckRegion(s3, findings, string.IsNullOrEmpty(response.BucketRegion) ? null : response.BucketRegion);
        }
        catch (AmazonServiceException e) when (e.StatusCode == HttpStatusCode.Forbidden)
        {
            // HEAD answers carry no error code: a missing permission and bad credentials look alike. The write check tells them apart.
            var options = s3.Destination.S3 ?? new S3DestinationOptions();
            var statement = S3Permissions.Statement(["s3:GetBucketLocation"],
                S3Permissions.Resource(S3Operations.GetBucketLocation, s3.Connection.Partition, s3.Bucket, ""), options.Credentials);
            findings.Add(new(ProbeStatus.Warning, "bucket",
                $"Could not check bucket \"{s3.Bucket}\" and its region: GetBucketLocation and HeadBucket were denied (exports need neither; the write check below still runs).",
                $"Optional, so validate can check the region: add to {S3Permissions.PolicyHome(s3.Destination, options)}:\n{statement}"));
            return true;
        }
        catch (AmazonServiceException e) when (BucketProblem(s3, e, head) is { } problem)
        {
            findings.Add(problem);
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            findings.Add(new(ProbeStatus.Problem, "bucket", $"Cannot reach {s3.Connection.Describe()} for bucket \"{s3.Bucket}\": {e.Message}",
                "Check \"endpoint\"/\"region\" and the network path to S3."));
            return false;
        }
    }

    private static bool IsDeniedOrUnsupported(AmazonServiceException e) =>
        (e.StatusCode == HttpStatusCode.Forbidden && !S3Errors.IsBadCredentials(e))
        || e.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented;

    /// <summary>GetBucketLocation's answer as a region: empty means us-east-1, "EU" the old name of eu-west-1.</summary>
    private static string RegionOf(string? location) => location switch
    {
        null or "" => "us-east-1",
        "EU" => "eu-west-1",
        _ => location,
    };

    private static bool CheckRegion(S3Sender s3, List<ProbeFinding> findings, string? region)
    {
        var where = $"destination \"{s3.Destination.Name}\"";
        // Custom endpoints report whatever region they like; only AWS's answer is authoritative.
        if (region is not null && s3.Connection.Endpoint is null && region != s3.Connection.Region)
        {
            findings.Add(new(ProbeStatus.Problem, "region", $"Bucket \"{s3.Bucket}\" is in region {region}, but {where} uses region {s3.Connection.Region}.",
                $"Set \"region\": \"{region}\" on {where}."));
            return false;
        }
        var shown = region is not null && s3.Connection.Endpoint is null ? $", region {region}" : "";
        findings.Add(new(ProbeStatus.Ok, "bucket", $"Bucket \"{s3.Bucket}\" is reachable at {s3.Connection.Describe()}{shown}."));
        return true;
    }

    /// <summary>A bucket-level failure as a finding: wrong region, no such bucket, bad credentials, anything else permanent.</summary>
    private static ProbeFinding? BucketProblem(S3Sender s3, AmazonServiceException e, S3Call call)
    {
        var where = $"destination \"{s3.Destination.Name}\"";
        if (S3Errors.IsWrongRegion(e))
        {
            var region = S3Errors.BucketRegion(e);
            return region is not null
                ? new(ProbeStatus.Problem, "region", $"Bucket \"{s3.Bucket}\" is in region {region}, but {where} uses region {s3.Connection.Region}.",
                    $"Set \"region\": \"{region}\" on {where}.")
                : new(ProbeStatus.Problem, "region", S3Errors.Explain(e, call, s3.Destination, s3.Connection));
        }
        if (S3Errors.IsBadCredentials(e)) return new(ProbeStatus.Problem, "credentials", S3Errors.Explain(e, call, s3.Destination, s3.Connection));
        if (e.StatusCode == HttpStatusCode.NotFound || e.ErrorCode == "NoSuchBucket")
            return new(ProbeStatus.Problem, "bucket", S3Errors.Explain(e, call, s3.Destination, s3.Connection));
        return s3.TryExplain(e, call, out var explained) ? new(ProbeStatus.Problem, "bucket", explained.Message) : null;
    }

    /// <summary>Starts and aborts a multipart upload: exercises SSE-KMS (multipart needs kms:Decrypt too) and s3:AbortMultipartUpload.</summary>
    private static async Task CheckMultipartAsync(S3Sender s3, string key, List<ProbeFinding> findings, CancellationToken cancellationToken)
    {
        var start = new S3Call(S3Operations.CreateMultipartUpload, s3.Bucket, key);
        InitiateMultipartUploadResponse? started = null;
        if (!await TryAsync(s3, start, findings, "multipart", ProbeStatus.Problem,
                async (client, ct) => started = await client.InitiateMultipartUploadAsync(s3.Requests.Initiate(key, new ObjectProperties("text/plain", null)), ct),
                cancellationToken))
            return;
        var abort = new S3Call(S3Operations.AbortMultipartUpload, s3.Bucket, key, started!.UploadId);
        if (await TryAsync(s3, abort, findings, "abort", ProbeStatus.Problem,
                (client, ct) => client.AbortMultipartUploadAsync(s3.Requests.Abort(key, started.UploadId), ct), cancellationToken,
                note: $" Failed exports could not discard their parts, which the bucket owner pays for. The probe's empty upload {started.UploadId} of {abort.Target} is left behind; a lifecycle rule AbortIncompleteMultipartUpload removes it."))
            findings.Add(new(ProbeStatus.Ok, "multipart", $"Started and aborted a multipart upload of {abort.Target}."));
    }

    /// <summary>Sends one request; on failure records a finding with the explanation and, when denied, the statement to add.</summary>
    private static async Task<bool> TryAsync<T>(S3Sender s3, S3Call call, List<ProbeFinding> findings, string check, ProbeStatus severity,
        Func<Amazon.S3.IAmazonS3, CancellationToken, Task<T>> request, CancellationToken cancellationToken, string note = "")
    {
        try
        {
            await s3.SendRawAsync(call, request, cancellationToken);
            return true;
        }
        catch (AmazonServiceException e) when (e.StatusCode != 0 && (S3Errors.IsAccessDenied(e) || !S3RetryPipeline.IsTransient(e, CancellationToken.None)))
        {
            string? fix = null;
            if (S3Errors.IsAccessDenied(e))
            {
                var options = s3.Destination.S3 ?? new S3DestinationOptions();
                var statement = S3Permissions.Statement(S3Permissions.For(call.Operation, options),
                    S3Permissions.Resource(call.Operation, s3.Connection.Partition, s3.Bucket, s3.Destination.Prefix), options.Credentials);
                fix = $"Add to {S3Permissions.PolicyHome(s3.Destination, options)}:\n{statement}";
            }
            findings.Add(new(severity, check, S3Errors.Explain(e, call, s3.Destination, s3.Connection) + note, fix));
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            findings.Add(new(severity, check, $"{call.Operation} on {call.Target} failed after retries: {e.Message}",
                "Check \"endpoint\"/\"region\" and the network path to S3, then validate again."));
            return false;
        }
    }

    private static S3CredentialMode Mode(S3Sender s3) => (s3.Destination.S3 ?? new S3DestinationOptions()).Credentials;

    private static string WriteDetails(S3DestinationOptions options)
    {
        var details = new List<string>();
        if (options.Credentials == S3CredentialMode.CrossAccount) details.Add("ACL bucket-owner-full-control");
        if (options.BucketOwnerAccountId is not null) details.Add($"expected bucket owner {options.BucketOwnerAccountId}");
        if (options.Encryption != Engine.Configuration.S3Encryption.None) details.Add(options.Encryption == Engine.Configuration.S3Encryption.Kms ? $"SSE-KMS key {options.KmsKeyId}" : "SSE-S3");
        if (options.StorageClass is not null) details.Add($"storage class {options.StorageClass}");
        return details.Count == 0 ? "" : " (" + string.Join(", ", details) + ")";
    }
}
