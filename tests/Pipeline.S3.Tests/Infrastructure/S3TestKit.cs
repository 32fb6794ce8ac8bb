using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Configuration;
using Pipeline.S3.Delivery;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>Specs, factories, data and an independent SDK client for the S3 tests.</summary>
internal static class S3TestKit
{
    public const int MiB = 1024 * 1024;

    /// <summary>Zero backoff so retries cost no time; a generous attempt timeout unless a test needs one to fire.</summary>
    public static S3RetryOptions FastRetries(int maxRetries = 4, TimeSpan? attemptTimeout = null) => new()
    {
        MaxRetries = maxRetries,
        BaseDelay = TimeSpan.Zero,
        MaxDelay = TimeSpan.Zero,
        AttemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(60),
    };

    /// <summary>Nothing from the machine's environment (AWS_REGION, AWS_ENDPOINT_URL) leaks into a test.</summary>
    public static string? NoEnvironment(string name) => null;

    public static DestinationSpec Spec(string endpoint, string bucket, string prefix = "", Func<S3DestinationOptions, S3DestinationOptions>? change = null,
        bool compatibility = false)
    {
        var options = new S3DestinationOptions { Endpoint = endpoint, Region = "us-east-1", Compatibility = compatibility };
        return new DestinationSpec
        {
            Name = "customer-s3",
            Type = DestinationSpec.S3Type,
            Location = bucket,
            Prefix = prefix,
            S3 = change is null ? options : change(options),
        };
    }

    public static S3DestinationFactory Factory(TimeProvider? time = null, ILoggerFactory? loggers = null, S3RetryOptions? retry = null, TestCredentials? credentials = null) =>
        new(credentials ?? new TestCredentials(), loggers ?? NullLoggerFactory.Instance, time ?? TimeProvider.System, retry ?? FastRetries(), NoEnvironment);

    /// <summary>Deterministic bytes that differ at every offset of every part, so a misplaced or repeated part shows.</summary>
    public static byte[] Data(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>S3's ETag for these bytes uploaded in parts of <paramref name="partSize"/>, worked out from the bytes (not the code under test).</summary>
    public static string MultipartETagOf(byte[] data, int partSize)
    {
#pragma warning disable CA5351 // S3 ETags are MD5s
        var digests = data.Chunk(partSize).SelectMany(p => System.Security.Cryptography.MD5.HashData(p)).ToArray();
        return Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(digests)) + "-" + data.Chunk(partSize).Count().ToString(System.Globalization.CultureInfo.InvariantCulture);
#pragma warning restore CA5351
    }

    /// <summary>A plain SDK client for setup and independent read-back (not the code under test).</summary>
    public static AmazonS3Client DirectClient(string endpoint, bool compatibility) =>
        new(new BasicAWSCredentials("test", "test"), new AmazonS3Config
        {
            ServiceURL = endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = compatibility ? RequestChecksumCalculation.WHEN_REQUIRED : RequestChecksumCalculation.WHEN_SUPPORTED,
            ResponseChecksumValidation = compatibility ? ResponseChecksumValidation.WHEN_REQUIRED : ResponseChecksumValidation.WHEN_SUPPORTED,
        });

    public static async Task<byte[]> ReadAsync(IAmazonS3 client, string bucket, string key)
    {
        using var response = await client.GetObjectAsync(bucket, key);
        using var buffer = new MemoryStream();
        await response.ResponseStream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    /// <summary>Every object under the prefix with its bytes, keyed by the key relative to the prefix.</summary>
    public static async Task<SortedDictionary<string, byte[]>> SnapshotAsync(IAmazonS3 client, string bucket, string prefix)
    {
        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var listing = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix });
        foreach (var o in listing.S3Objects ?? [])
            result[o.Key[prefix.Length..]] = await ReadAsync(client, bucket, o.Key);
        return result;
    }
}
