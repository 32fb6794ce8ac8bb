using System.Net;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.Runtime.Internal;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Clients;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Errors;

/// <summary>
/// Turns S3 refusals a user must fix into <see cref="DestinationException"/>s that name the bucket, key,
/// destination and the fix (missing permission, real region, bad credentials secret). Never quotes a
/// secret or a signature: credential errors are explained in our own words.
/// </summary>
internal static partial class S3Errors
{
    public const string BucketRegionHeader = "x-amz-bucket-region";

    // AuthorizationHeaderMalformed: "... the region 'us-east-1' is wrong; expecting 'eu-west-1'"
    [GeneratedRegex("expecting '([a-z0-9-]+)'")]
    private static partial Regex ExpectedRegionInMessage();

    [GeneratedRegex("<Region>([a-z0-9-]+)</Region>")]
    private static partial Regex RegionElement();

    [GeneratedRegex(@"<Endpoint>[^<]*?s3[.-](?:dualstack\.)?([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)\.amazonaws\.com")]
    private static partial Regex RegionInEndpoint();

    public static bool IsNoSuchUpload(AmazonServiceException e) => e.ErrorCode == "NoSuchUpload";

    /// <summary>A missing object (HEAD answers 404 without an error code), not a missing bucket.</summary>
    public static bool IsMissingObject(AmazonServiceException e) =>
        e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode is not ("NoSuchBucket" or "NoSuchUpload");

    public static bool IsWrongRegion(AmazonServiceException e) =>
        e.StatusCode == HttpStatusCode.MovedPermanently
        || e.ErrorCode is "PermanentRedirect" or "AuthorizationHeaderMalformed" or "IllegalLocationConstraintException";

    public static bool IsAccessDenied(AmazonServiceException e) =>
        e.ErrorCode is "AccessDenied" or "AllAccessDisabled" || (e.StatusCode == HttpStatusCode.Forbidden && !IsBadCredentials(e));

    public static bool IsBadCredentials(AmazonServiceException e) =>
        e.ErrorCode is "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "ExpiredToken" or "InvalidToken" or "TokenRefreshRequired";

    /// <summary>The bucket's real region: the x-amz-bucket-region header, else the region S3 names in its error message or body.</summary>
    public static string? BucketRegion(AmazonServiceException e)
    {
        if (e.InnerException is HttpErrorResponseException { Response: { } response })
        {
            var header = response.GetHeaderValue(BucketRegionHeader);
            if (!string.IsNullOrEmpty(header)) return header;
        }
        var expecting = ExpectedRegionInMessage().Match(e.Message ?? "");
        if (expecting.Success) return expecting.Groups[1].Value;
        var body = (e as Amazon.S3.AmazonS3Exception)?.ResponseBody;
        if (string.IsNullOrEmpty(body)) return null;
        var region = RegionElement().Match(body);
        if (region.Success) return region.Groups[1].Value;
        var endpoint = RegionInEndpoint().Match(body);
        return endpoint.Success ? endpoint.Groups[1].Value : null;
    }

    /// <summary>
    /// The error explained for the user, or false when retrying later may still succeed (transient failures
    /// that outlasted the retries, which the caller rethrows so the queue tries again).
    /// </summary>
    public static bool TryExplain(AmazonServiceException e, S3Call call, DestinationSpec destination, S3Connection connection,
        out DestinationException explained)
    {
        explained = null!;
        if (e.StatusCode == 0 || S3RetryPipeline.IsTransient(e, CancellationToken.None)) return false;
        explained = new DestinationException(Explain(e, call, destination, connection), e);
        return true;
    }

    /// <summary>For a store that answered an operation with something else (e.g. an object listing for ListMultipartUploads).</summary>
    public static string Unsupported(S3Call call, DestinationSpec destination, S3Connection connection, string answer) =>
        $"The store at {connection.Describe()} does not support {call.Operation} ({call.Target}, destination \"{destination.Name}\"): it answered with {answer}. " +
        $"Fix: use a store that supports {call.Operation}.";

    public static string Explain(AmazonServiceException e, S3Call call, DestinationSpec destination, S3Connection connection)
    {
        var options = destination.S3 ?? new S3DestinationOptions();
        var where = $"destination \"{destination.Name}\"";
        if (IsWrongRegion(e))
        {
            var real = BucketRegion(e);
            return real is not null && real != connection.Region
                ? $"Bucket \"{call.Bucket}\" is in region {real}, but {where} uses region {connection.Region} ({call.Operation} {call.Target} was redirected). " +
                  $"Fix: set \"region\": \"{real}\" on {where}."
                : $"Bucket \"{call.Bucket}\" is not in region {connection.Region} ({call.Operation} {call.Target} was redirected by {connection.Describe()}). " +
                  $"Fix: set \"region\" on {where} to the bucket's region (S3 console, bucket properties).";
        }
        if (IsBadCredentials(e)) return ExplainCredentials(e, call, destination, options);
        if (e.ErrorCode == "NoSuchBucket" || (call.Operation is S3Operations.HeadBucket or S3Operations.GetBucketLocation && e.StatusCode == HttpStatusCode.NotFound))
        {
            return $"Bucket \"{call.Bucket}\" does not exist at {connection.Describe()} ({where}, {call.Operation} {call.Target}). " +
                   $"Fix: check \"bucket\" on {where} (and \"region\"/\"endpoint\"), or ask the bucket owner to create it.";
        }
        if (IsAccessDenied(e)) return ExplainDenied(e, call, destination, options, connection);
        if (e.ErrorCode == "NoSuchUpload")
        {
            return $"The multipart upload {call.UploadId} of {call.Target} no longer exists ({where}): it was completed, aborted, or removed by a " +
                   "lifecycle rule (AbortIncompleteMultipartUpload) or the stale-upload sweep. Fix: retry the run with `pipeline retry RUN_ID` (the FAILED line names the run; `pipeline run` also retries failed scheduled runs by itself); if this repeats, " +
                   "make the bucket's AbortIncompleteMultipartUpload rule longer than an export takes.";
        }
        if (e.ErrorCode == "InvalidStorageClass")
        {
            return $"S3 rejected storage class \"{options.StorageClass}\" for {call.Target} ({where}). " +
                   "Fix: set \"storageClass\" to one the store supports (e.g. STANDARD, STANDARD_IA, INTELLIGENT_TIERING) or remove it.";
        }
        if (e.ErrorCode is { } kms && kms.StartsWith("KMS.", StringComparison.Ordinal))
        {
            return $"S3 could not use KMS key \"{options.KmsKeyId}\" for {call.Target} ({where}): {e.ErrorCode}: {e.Message} " +
                   "Fix: check \"encryption.kmsKeyId\" (key id or ARN in the bucket's region) and that the key is enabled and its policy lets us use it.";
        }
        if (e.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented || e.ErrorCode is "NotImplemented" or "MethodNotAllowed")
        {
            return $"The store at {connection.Describe()} does not support {call.Operation} ({call.Target}, {where}): {e.ErrorCode}. " +
                   $"Fix: use a store that supports {call.Operation}" +
                   (connection.Compatibility ? "." : ", or set \"compatibility\": true on the destination if it is an S3-compatible store.");
        }
        return $"S3 refused {call.Operation} on {call.Target} ({where}): {(int)e.StatusCode} {e.ErrorCode}: {e.Message}";
    }

    private static string ExplainCredentials(AmazonServiceException e, S3Call call, DestinationSpec destination, S3DestinationOptions options)
    {
        var what = e.ErrorCode switch
        {
            "InvalidAccessKeyId" => "the access key id does not exist",
            "SignatureDoesNotMatch" => "the secret access key does not match the access key id",
            "ExpiredToken" or "TokenRefreshRequired" => "the session token has expired",
            _ => "the session token is not valid",
        };
        var fix = options.Credentials switch
        {
            S3CredentialMode.AccessKey => $"check the access key id and secret access key stored in secret \"{options.SecretName}\" (rotate it if it was deactivated).",
            S3CredentialMode.CrossAccount => $"check our AWS access key stored in secret \"{options.SecretName}\".",
            S3CredentialMode.AssumeRole => $"check the key in secret \"{options.SecretName ?? "(web identity)"}\" and that role {options.RoleArn} can still be assumed.",
            _ => "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or AWS_PROFILE in the environment.",
        };
        return $"S3 rejected the credentials of destination \"{destination.Name}\" ({e.ErrorCode}: {what}) on {call.Operation} {call.Target}. Fix: {fix}";
    }

    private static string ExplainDenied(AmazonServiceException e, S3Call call, DestinationSpec destination, S3DestinationOptions options, S3Connection connection)
    {
        var actions = S3Permissions.For(call.Operation, options);
        var resource = S3Permissions.Resource(call.Operation, connection.Partition, destination.Location, destination.Prefix);
        var message = $"Access denied: {call.Operation} on {call.Target} (destination \"{destination.Name}\", credentials mode {Mode(options)}). " +
                      $"Fix: grant {string.Join(" and ", actions)} on {resource} in {S3Permissions.PolicyHome(destination, options)}.";
        if (call.Operation == S3Operations.HeadObject)
            message += " (Without s3:ListBucket on the bucket, S3 also answers 403 instead of 404 for a missing object.)";
        if (options.Credentials == S3CredentialMode.CrossAccount)
            message += $" In crossAccount mode the bucket must also be owned by account {options.BucketOwnerAccountId} (sent as ExpectedBucketOwner): check \"bucketOwnerAccountId\".";
        if (options.Encryption == S3Encryption.Kms)
            message += $" With SSE-KMS the writer also needs kms:GenerateDataKey and kms:Decrypt on key {options.KmsKeyId}.";
        if (e.ErrorCode == "AllAccessDisabled")
            message += " S3 says all access to this bucket is disabled: the bucket owner's account must be reinstated.";
        return message;
    }

    private static string Mode(S3DestinationOptions options) => options.Credentials switch
    {
        S3CredentialMode.AccessKey => "accessKey",
        S3CredentialMode.CrossAccount => "crossAccount",
        S3CredentialMode.AssumeRole => "assumeRole",
        _ => "default",
    };
}
