using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using S3Encryption = Pipeline.Engine.Configuration.S3Encryption;
using Pipeline.Engine.Ports;
using Pipeline.S3.Clients;
using Pipeline.S3.Errors;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Delivery;

/// <summary>
/// Delivers export files into an S3 bucket (or an S3-compatible store) with multipart uploads: the engine
/// starts a file once, uploads its parts in any order (possibly twice, with identical bytes), completes it
/// (possibly twice) and aborts it on failure. Files no bigger than <see cref="SinglePutThreshold"/> go in one
/// PutObject when part 1 arrives, which is atomic too. Stateless: any instance can continue any upload.
/// </summary>
public sealed partial class S3Destination : IExportDestination
{
    /// <summary>
    /// Files up to this size are sent as one PutObject. It equals S3's smallest part (<see cref="Limits"/>), so
    /// such a file is always a single part, whatever the tuning says.
    /// </summary>
    public const long SinglePutThreshold = FileNameDefaults.MinPartSize;

    /// <summary>S3's multipart limits: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 of them, objects up to 5 TiB.</summary>
    public static readonly PartLimits Limits = new(5 * ByteSize.MiB, 5 * ByteSize.GiB, 10_000, 5 * ByteSize.TiB);

    private readonly DestinationSpec _destination;
    private readonly S3Sender _s3;
    private readonly S3Connection _connection;
    private readonly S3Requests _requests;
    private readonly ILogger _logger;

    internal S3Destination(S3Sender s3, ILogger logger)
    {
        _destination = s3.Destination;
        _s3 = s3;
        _connection = _s3.Connection;
        _requests = _s3.Requests;
        _logger = logger;
    }

    public string Bucket => _destination.Location;

    public string Describe(string key) => $"s3://{Bucket}/{key}";

    public PartLimits PartLimits => Limits;

    public async Task<string> StartFileAsync(string key, long length, ObjectProperties properties, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length <= SinglePutThreshold) return SinglePutUpload.Encode(properties);
        var call = new S3Call(S3Operations.CreateMultipartUpload, Bucket, key);
        var response = await _s3.SendAsync(call, (client, ct) => client.InitiateMultipartUploadAsync(_requests.Initiate(key, properties), ct), cancellationToken);
        if (string.IsNullOrEmpty(response.UploadId))
            throw new DestinationException($"{_connection.Describe()} answered CreateMultipartUpload for {Describe(key)} without an upload id (destination \"{_destination.Name}\").");
        Log.Started(_logger, Describe(key), response.UploadId, length);
        return response.UploadId;
    }

    public async Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, ReadOnlyMemory<byte> content,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partNumber, 1);
        // Compatibility mode sends no checksum header (SigV4's signed payload hash still protects the bytes),
        // so hashing the part again would only cost time.
        var sha = _requests.Compatibility ? "" : Convert.ToBase64String(SHA256.HashData(content.Span));
        string? etag;
        if (SinglePutUpload.TryDecode(uploadId, out var properties))
        {
            if (partNumber != 1 || offset != 0)
                throw new InvalidOperationException($"{Describe(key)} is sent in one request, but part {partNumber} at offset {offset} was uploaded.");
            var call = new S3Call(S3Operations.PutObject, Bucket, key, uploadId, partNumber);
            var response = await _s3.SendAsync(call, (client, ct) => client.PutObjectAsync(_requests.Put(key, content, sha, properties), ct), cancellationToken);
            etag = response.ETag;
            CheckPutAnswer(key, content.Span, sha, response);
        }
        else
        {
            var call = new S3Call(S3Operations.UploadPart, Bucket, key, uploadId, partNumber);
            var response = await _s3.SendAsync(call, (client, ct) => client.UploadPartAsync(_requests.Part(key, uploadId, partNumber, content, sha), ct), cancellationToken);
            etag = response.ETag;
        }
        if (string.IsNullOrEmpty(etag))
            throw new DestinationException($"{_connection.Describe()} stored part {partNumber} of {Describe(key)} but answered without an ETag (destination \"{_destination.Name}\").");
        return new PartReceipt(partNumber, offset, content.Length, etag, sha);
    }

    public async Task CompleteFileAsync(string key, string uploadId, IReadOnlyList<PartReceipt> parts, long length, CancellationToken cancellationToken)
    {
        CheckParts(key, parts, length);
        // Written whole when part 1 arrived; HEAD shows whether the store kept it (s3:GetObject is in the writer policy).
        if (SinglePutUpload.TryDecode(uploadId, out _))
        {
            await VerifyAsync(key, ExpectedObject.OfSinglePut(parts[0], EtagsAreMd5), [], [], cancellationToken);
            return;
        }
        var expected = ExpectedObject.Of(parts, length, EtagsAreMd5, _requests.Compatibility);
        var call = new S3Call(S3Operations.CompleteMultipartUpload, Bucket, key, uploadId);
        try
        {
            var response = await _s3.SendRawAsync(call, (client, ct) => client.CompleteMultipartUploadAsync(_requests.Complete(key, uploadId, parts, length), ct), cancellationToken);
            await VerifyAsync(key, expected, [response.ETag], [response.ChecksumSHA256], cancellationToken);
            Log.Completed(_logger, Describe(key), uploadId, parts.Count, length);
        }
        catch (AmazonServiceException e) when (S3Errors.IsNoSuchUpload(e))
        {
            // An earlier attempt may have completed it and died before recording that: then the object must be this upload's result.
            var head = await HeadAsync(key, cancellationToken);
            if (head is null) throw _s3.Explain(e, call);
            if (Mismatch(expected, head, [], []) is { } mismatch)
            {
                throw new DestinationException($"{_s3.Explain(e, call).Message} The object now at {Describe(key)} is not this upload's result: the store has {mismatch}. " +
                    $"If an earlier attempt completed the upload, the store completed it wrongly. {Hint}", e);
            }
            Log.AlreadyCompleted(_logger, Describe(key), uploadId);
        }
        catch (AmazonServiceException e) when (_s3.TryExplain(e, call, out var explained))
        {
            throw explained;
        }
    }

    public async Task AbortFileAsync(string key, string uploadId, CancellationToken cancellationToken)
    {
        // A single-request file has no parts to discard: it either was written whole or not at all.
        if (SinglePutUpload.TryDecode(uploadId, out _)) return;
        var call = new S3Call(S3Operations.AbortMultipartUpload, Bucket, key, uploadId);
        try
        {
            await _s3.SendRawAsync(call, (client, ct) => client.AbortMultipartUploadAsync(_requests.Abort(key, uploadId), ct), cancellationToken);
            Log.Aborted(_logger, Describe(key), uploadId);
        }
        catch (AmazonServiceException e) when (S3Errors.IsNoSuchUpload(e))
        {
            // Already aborted, completed or swept: nothing is left to discard.
        }
        catch (AmazonServiceException e) when (_s3.TryExplain(e, call, out var explained))
        {
            throw explained;
        }
    }

    public async Task PutObjectAsync(string key, ReadOnlyMemory<byte> content, ObjectProperties properties, CancellationToken cancellationToken)
    {
        var sha = Convert.ToBase64String(SHA256.HashData(content.Span));
        var call = new S3Call(S3Operations.PutObject, Bucket, key);
        var response = await _s3.SendAsync(call, (client, ct) => client.PutObjectAsync(_requests.Put(key, content, sha, properties), ct), cancellationToken);
        CheckPutAnswer(key, content.Span, _requests.Compatibility ? "" : sha, response);
    }

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => await HeadAsync(key, cancellationToken) is not null;

    /// <summary>The object's metadata, or null when there is no such object.</summary>
    internal async Task<GetObjectMetadataResponse?> HeadAsync(string key, CancellationToken cancellationToken)
    {
        var call = new S3Call(S3Operations.HeadObject, Bucket, key);
        try
        {
            return await _s3.SendRawAsync(call, (client, ct) => client.GetObjectMetadataAsync(_requests.Head(key), ct), cancellationToken);
        }
        // Stryker disable once Block : an emptied catch block returns default, which is the same null
        catch (AmazonServiceException e) when (S3Errors.IsMissingObject(e))
        {
            return null;
        }
        catch (AmazonServiceException e) when (_s3.TryExplain(e, call, out var explained))
        {
            throw explained;
        }
    }

    /// <summary>S3's ETags are MD5s of the bytes, except under SSE-KMS (see <see cref="ExpectedObject"/>).</summary>
    private bool EtagsAreMd5 => _destination.S3?.Encryption != S3Encryption.Kms;

    /// <summary>A bucket's default encryption can be SSE-KMS whatever the config says; S3 names it in every answer.</summary>
    private static bool IsKms(ServerSideEncryptionMethod? reported) =>
        reported?.Value is { } method && method.StartsWith("aws:kms", StringComparison.Ordinal);

    /// <summary>What to do about an object that is not what was uploaded.</summary>
    private string Hint => "No manifest lists the file; delete the object. " + (_requests.Compatibility
        ? "The store acknowledged bytes it did not keep: check its logs and capacity."
        : $"If {_connection.Describe()} is an S3-compatible store rather than Amazon S3, set \"compatibility\": true on destination " +
          $"\"{_destination.Name}\" (no aws-chunked bodies, no checksums in the completion, which some stores mishandle).");

    private string? Mismatch(ExpectedObject expected, GetObjectMetadataResponse head, IEnumerable<string?> etags, IEnumerable<string?> checksums) =>
        (IsKms(head.ServerSideEncryptionMethod) ? expected with { ETag = null } : expected)
        .Mismatch(head.ContentLength, etags.Append(head.ETag), checksums.Append(head.ChecksumSHA256), _requests.Compatibility);

    /// <summary>Fails the file unless the store holds what was uploaded: the completion's answer and HEAD against the prediction.</summary>
    private async Task VerifyAsync(string key, ExpectedObject expected, IEnumerable<string?> etags, IEnumerable<string?> checksums, CancellationToken cancellationToken)
    {
        var head = await HeadAsync(key, cancellationToken)
                   ?? throw new DestinationException($"{Describe(key)}: the store acknowledged the file but has no object under its name (destination \"{_destination.Name}\"). " +
                       "Fix: check that nothing else (a lifecycle rule, another writer) deletes objects under the prefix, then run the export again.");
        if (Mismatch(expected, head, etags, checksums) is { } mismatch)
            throw new DestinationException($"{Describe(key)}: the store completed {mismatch} (destination \"{_destination.Name}\"). {Hint}");
    }

    /// <summary>A single put's answer: its ETag is the body's MD5 where ETags are MD5s, its checksum the body's SHA-256 when one was sent.</summary>
    private void CheckPutAnswer(string key, ReadOnlySpan<byte> content, string sha256Base64, PutObjectResponse response)
    {
        var expected = new ExpectedObject(content.Length, EtagsAreMd5 && !IsKms(response.ServerSideEncryptionMethod) ? ExpectedObject.PutETag(content) : null, sha256Base64.Length == 0 ? null : sha256Base64, Multipart: false);
        if (expected.Mismatch(null, [response.ETag], [response.ChecksumSHA256], _requests.Compatibility) is { } mismatch)
            throw new DestinationException($"{Describe(key)}: the store answered the upload of {mismatch} (destination \"{_destination.Name}\"). {Hint}");
    }

    /// <summary>S3's ETag of a completed multipart upload: MD5 of the concatenated binary part MD5s, "-", the part count.</summary>
    internal static string? MultipartETag(IReadOnlyList<PartReceipt> parts) => ExpectedObject.MultipartETag(parts);

    /// <summary>The engine must hand over parts 1..N covering exactly the file; anything else is a bug, not a user error.</summary>
    private void CheckParts(string key, IReadOnlyList<PartReceipt> parts, long length)
    {
        var ordered = parts.OrderBy(p => p.PartNumber).ToList();
        var problem = ordered.Count == 0 ? "no parts"
            : ordered.Where((p, i) => p.PartNumber != i + 1).Any() ? $"part numbers {string.Join(",", ordered.Select(p => p.PartNumber))} are not 1..{ordered.Count}"
            : ordered.Sum(p => p.Length) != length ? $"parts hold {ordered.Sum(p => p.Length)} bytes, the file {length}"
            : null;
        if (problem is not null) throw new InvalidOperationException($"Cannot complete {Describe(key)}: {problem}.");
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Started multipart upload {UploadId} of {Target} ({Bytes} bytes)")]
        public static partial void Started(ILogger logger, string target, string uploadId, long bytes);

        [LoggerMessage(2, LogLevel.Debug, "Completed multipart upload {UploadId} of {Target}: {Parts} part(s), {Bytes} bytes")]
        public static partial void Completed(ILogger logger, string target, string uploadId, int parts, long bytes);

        [LoggerMessage(3, LogLevel.Information, "Multipart upload {UploadId} of {Target} was already completed by an earlier attempt")]
        public static partial void AlreadyCompleted(ILogger logger, string target, string uploadId);

        [LoggerMessage(4, LogLevel.Information, "Aborted multipart upload {UploadId} of {Target}")]
        public static partial void Aborted(ILogger logger, string target, string uploadId);
    }
}
