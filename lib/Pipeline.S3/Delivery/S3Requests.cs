using System.Runtime.InteropServices;
using Amazon.S3;
using Amazon.S3.Model;
using Pipeline.Engine.Configuration;
using S3Encryption = Pipeline.Engine.Configuration.S3Encryption;
using Pipeline.Engine.Ports;
using Pipeline.S3.Clients;

namespace Pipeline.S3.Delivery;

/// <summary>
/// The requests a destination sends, with its settings applied in one place: storage class, encryption,
/// checksums (SHA-256, unless compatibility mode), no aws-chunked bodies in compatibility mode, and in
/// crossAccount mode the bucket-owner-full-control ACL plus ExpectedBucketOwner on every request.
/// </summary>
internal sealed class S3Requests
{
    private readonly S3DestinationOptions _options;

    public S3Requests(DestinationSpec destination, S3Connection connection)
    {
        Bucket = destination.Location;
        _options = destination.S3 ?? new S3DestinationOptions();
        Compatibility = connection.Compatibility;
    }

    public string Bucket { get; }

    public bool Compatibility { get; }

    /// <summary>Sent on every request when set: S3 refuses the request if someone else owns the bucket.</summary>
    public string? ExpectedBucketOwner => _options.BucketOwnerAccountId;

    private bool WritesOwnerAcl => _options.Credentials == S3CredentialMode.CrossAccount;

    public InitiateMultipartUploadRequest Initiate(string key, ObjectProperties properties)
    {
        var request = new InitiateMultipartUploadRequest
        {
            BucketName = Bucket,
            Key = key,
            ContentType = properties.ContentType,
            ExpectedBucketOwner = ExpectedBucketOwner,
        };
        if (properties.ContentEncoding is not null) request.Headers.ContentEncoding = properties.ContentEncoding;
        if (!Compatibility) request.ChecksumAlgorithm = ChecksumAlgorithm.SHA256;
        if (WritesOwnerAcl) request.CannedACL = S3CannedACL.BucketOwnerFullControl;
        if (StorageClass is { } storageClass) request.StorageClass = storageClass;
        if (Encryption is { } encryption)
        {
            request.ServerSideEncryptionMethod = encryption;
            if (encryption == ServerSideEncryptionMethod.AWSKMS) request.ServerSideEncryptionKeyManagementServiceKeyId = _options.KmsKeyId;
        }
        return request;
    }

    public UploadPartRequest Part(string key, string uploadId, int partNumber, ReadOnlyMemory<byte> content, string sha256Base64)
    {
        var request = new UploadPartRequest
        {
            BucketName = Bucket,
            Key = key,
            UploadId = uploadId,
            PartNumber = partNumber,
            InputStream = Stream(content),
            ExpectedBucketOwner = ExpectedBucketOwner,
        };
        if (Compatibility) request.UseChunkEncoding = false;
        else
        {
            request.ChecksumAlgorithm = ChecksumAlgorithm.SHA256;
            request.ChecksumSHA256 = sha256Base64;
        }
        return request;
    }

    public CompleteMultipartUploadRequest Complete(string key, string uploadId, IEnumerable<PartReceipt> parts, long length)
    {
        var request = new CompleteMultipartUploadRequest
        {
            BucketName = Bucket,
            Key = key,
            UploadId = uploadId,
            ExpectedBucketOwner = ExpectedBucketOwner,
            // No sorting here: the SDK sends the list sorted by part number (a request-shape test checks the order on the wire).
            PartETags = parts
                .Select(p => new PartETag { PartNumber = p.PartNumber, ETag = p.ETag, ChecksumSHA256 = Compatibility ? null : p.Sha256Base64 })
                .ToList(),
        };
        // S3 checks the assembled size against this (x-amz-mp-object-size); compatible stores may not know it.
        if (!Compatibility) request.MpuObjectSize = length;
        return request;
    }

    public AbortMultipartUploadRequest Abort(string key, string uploadId) =>
        new() { BucketName = Bucket, Key = key, UploadId = uploadId, ExpectedBucketOwner = ExpectedBucketOwner };

    public PutObjectRequest Put(string key, ReadOnlyMemory<byte> content, string sha256Base64, ObjectProperties properties)
    {
        var request = new PutObjectRequest
        {
            BucketName = Bucket,
            Key = key,
            InputStream = Stream(content),
            ContentType = properties.ContentType,
            ExpectedBucketOwner = ExpectedBucketOwner,
        };
        if (properties.ContentEncoding is not null) request.Headers.ContentEncoding = properties.ContentEncoding;
        if (Compatibility) request.UseChunkEncoding = false;
        else
        {
            request.ChecksumAlgorithm = ChecksumAlgorithm.SHA256;
            request.ChecksumSHA256 = sha256Base64;
        }
        if (WritesOwnerAcl) request.CannedACL = S3CannedACL.BucketOwnerFullControl;
        if (StorageClass is { } storageClass) request.StorageClass = storageClass;
        if (Encryption is { } encryption)
        {
            request.ServerSideEncryptionMethod = encryption;
            if (encryption == ServerSideEncryptionMethod.AWSKMS) request.ServerSideEncryptionKeyManagementServiceKeyId = _options.KmsKeyId;
        }
        return request;
    }

    /// <summary>HEAD of an object; outside compatibility mode it asks for the stored checksum too (S3 reports it only when asked).</summary>
    public GetObjectMetadataRequest Head(string key)
    {
        var request = new GetObjectMetadataRequest { BucketName = Bucket, Key = key, ExpectedBucketOwner = ExpectedBucketOwner };
        if (!Compatibility) request.ChecksumMode = ChecksumMode.ENABLED;
        return request;
    }

    public DeleteObjectRequest Delete(string key) =>
        new() { BucketName = Bucket, Key = key, ExpectedBucketOwner = ExpectedBucketOwner };

    public GetBucketLocationRequest BucketLocation() =>
        new() { BucketName = Bucket, ExpectedBucketOwner = ExpectedBucketOwner };

    public HeadBucketRequest HeadBucket() =>
        new() { BucketName = Bucket, ExpectedBucketOwner = ExpectedBucketOwner };

    public ListMultipartUploadsRequest ListUploads(string prefix, string? keyMarker, string? uploadIdMarker) =>
        new()
        {
            BucketName = Bucket,
            Prefix = prefix,
            KeyMarker = keyMarker,
            UploadIdMarker = uploadIdMarker,
            ExpectedBucketOwner = ExpectedBucketOwner,
        };

    private S3StorageClass? StorageClass =>
        string.IsNullOrWhiteSpace(_options.StorageClass) ? null : S3StorageClass.FindValue(_options.StorageClass.Trim());

    private ServerSideEncryptionMethod? Encryption => _options.Encryption switch
    {
        S3Encryption.S3 => ServerSideEncryptionMethod.AES256,
        S3Encryption.Kms => ServerSideEncryptionMethod.AWSKMS,
        _ => null,
    };

    /// <summary>A fresh read-only stream over the bytes for each attempt (a retry must resend from the start), without copying pooled buffers.</summary>
    // Stryker disable once all : both branches stream the same bytes and nothing writes to the stream; only the copy differs
    private static MemoryStream Stream(ReadOnlyMemory<byte> content) =>
        MemoryMarshal.TryGetArray(content, out var segment) && segment.Array is not null
            ? new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);
}
