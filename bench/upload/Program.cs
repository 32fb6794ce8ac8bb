// Uploads one file to an S3 endpoint as a multipart upload the way the UploadPart stage does: each part's
// byte range is read into a pooled buffer and sent with S3Destination.UploadPartAsync (SHA-256 checksum,
// retries), at most CONCURRENCY parts at once; then CompleteMultipartUpload.
//   upload-bench ENDPOINT BUCKET KEY FILE PART_BYTES CONCURRENCY [compat]
// Prints one JSON line: seconds (first request to completion), parts, bytes.
using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Credentials;
using Pipeline.S3.Delivery;

if (args.Length < 6)
{
    Console.Error.WriteLine("usage: upload-bench ENDPOINT BUCKET KEY FILE PART_BYTES CONCURRENCY [compat]");
    return 2;
}
var (endpoint, bucket, key, path) = (args[0], args[1], args[2], args[3]);
var partSize = long.Parse(args[4], CultureInfo.InvariantCulture);
var concurrency = int.Parse(args[5], CultureInfo.InvariantCulture);
var compat = args.Length > 6 && args[6] == "compat";

var spec = new DestinationSpec
{
    Name = "bench", Type = DestinationSpec.S3Type, Location = bucket,
    S3 = new S3DestinationOptions { Endpoint = endpoint, Region = "us-east-1", PathStyle = true, Compatibility = compat },
};
using var factory = new S3DestinationFactory(new StaticCredentials(), NullLoggerFactory.Instance, TimeProvider.System);
var destination = factory.Open(spec);
var length = new FileInfo(path).Length;
var parts = (int)((length + partSize - 1) / partSize);
using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);

var clock = Stopwatch.StartNew();
var uploadId = await destination.StartFileAsync(key, length, new ObjectProperties("application/octet-stream", null), CancellationToken.None);
var receipts = new PartReceipt[parts];
await Parallel.ForEachAsync(Enumerable.Range(1, parts), new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (part, ct) =>
{
    var offset = (part - 1) * partSize;
    var size = (int)Math.Min(partSize, length - offset);
    var buffer = ArrayPool<byte>.Shared.Rent(size);
    try
    {
        var read = 0;
        while (read < size) read += await RandomAccess.ReadAsync(file, buffer.AsMemory(read, size - read), offset + read, ct);
        receipts[part - 1] = await destination.UploadPartAsync(key, uploadId, part, offset, buffer.AsMemory(0, size), ct);
    }
    finally { ArrayPool<byte>.Shared.Return(buffer); }
});
await destination.CompleteFileAsync(key, uploadId, receipts, length, CancellationToken.None);
var seconds = clock.Elapsed.TotalSeconds;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"seconds\":{seconds:F3},\"parts\":{parts},\"bytes\":{length}}}"));
return 0;

internal sealed class StaticCredentials : IS3CredentialSource
{
    private readonly BasicAWSCredentials _credentials = new("S3RVER", "S3RVER");

    public Task<AWSCredentials> GetCredentialsAsync(DestinationSpec destination, CancellationToken cancellationToken) => Task.FromResult<AWSCredentials>(_credentials);
}
