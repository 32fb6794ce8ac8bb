using Amazon.S3;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;
using Pipeline.TestKit.Emulators;

namespace Pipeline.S3.Tests.Integration;

/// <summary>
/// Behaviour s3rver 3.7.1 cannot show: it answers AbortMultipartUpload with MethodNotAllowed and a second
/// CompleteMultipartUpload with 500 InternalError (instead of S3's NoSuchUpload). fauxqs does both like S3.
/// </summary>
[Category("Integration")]
public sealed class FauxqsOnlyTests
{
    private static readonly ObjectProperties Csv = new("text/csv; charset=utf-8", null);

    private S3Emulator _emulator = null!;
    private AmazonS3Client _direct = null!;
    private S3DestinationFactory _factory = null!;
    private string _bucket = null!;

    [OneTimeSetUp]
    public async Task StartEmulator()
    {
        _emulator = await Emulators.GetAsync(EmulatorKind.Fauxqs);
        _bucket = $"fauxqs-only-{Guid.NewGuid():N}"[..30];
        _direct = DirectClient(_emulator.DirectEndpoint, compatibility: false);
        await _direct.PutBucketAsync(_bucket);
        _factory = Factory();
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _direct?.Dispose();
        _factory?.Dispose();
    }

    private async Task<(string Key, string UploadId, List<PartReceipt> Parts, byte[] Data)> UploadAsync(S3Destination destination, int length)
    {
        var key = $"exports/{Guid.NewGuid():N}.csv";
        var data = Data(length, seed: length);
        var id = await destination.StartFileAsync(key, data.Length, Csv, CancellationToken.None);
        var parts = new List<PartReceipt>();
        for (var (n, offset) = (1, 0); offset < data.Length; n++, offset += 5 * MiB)
            parts.Add(await destination.UploadPartAsync(key, id, n, offset, data.AsMemory(offset, Math.Min(5 * MiB, data.Length - offset)), CancellationToken.None));
        return (key, id, parts, data);
    }

    [Test]
    public async Task Completing_a_file_twice_is_harmless()
    {
        var destination = _factory.OpenS3(Spec(_emulator.Endpoint, _bucket));
        var (key, id, parts, data) = await UploadAsync(destination, 5 * MiB + 10);

        await destination.CompleteFileAsync(key, id, parts, data.Length, CancellationToken.None);
        await destination.CompleteFileAsync(key, id, parts, data.Length, CancellationToken.None);

        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
    }

    [Test]
    public async Task Completing_an_aborted_upload_says_it_is_gone_and_aborting_twice_is_harmless()
    {
        var destination = _factory.OpenS3(Spec(_emulator.Endpoint, _bucket));
        var (key, id, parts, data) = await UploadAsync(destination, 5 * MiB + 1);

        await destination.AbortFileAsync(key, id, CancellationToken.None);
        await destination.AbortFileAsync(key, id, CancellationToken.None);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(key, id, parts, data.Length, CancellationToken.None));
        Assert.That(error!.Message, Does.Contain($"upload {id}").And.Contain("no longer exists").And.Contain(key));
        Assert.That(await destination.ExistsAsync(key, CancellationToken.None), Is.False, "nothing was published");
    }

    [Test]
    public async Task A_completion_whose_answer_was_lost_is_found_complete_on_retry()
    {
        await using var proxy = new FaultInjectingProxy(_emulator.Endpoint).Inject("CompleteMultipartUpload", Fault.DropAfterForwarding);
        var destination = _factory.OpenS3(Spec(proxy.Endpoint, _bucket));
        var (key, id, parts, data) = await UploadAsync(destination, 2 * 5 * MiB + 77);

        await destination.CompleteFileAsync(key, id, parts, data.Length, CancellationToken.None);

        // The first completion worked but its answer was lost; the retry met NoSuchUpload, and HEAD found this upload's object.
        Assert.That(proxy.Forwarded.Where(k => k != "UploadPart"), Is.EqualTo(new[] { "CreateMultipartUpload", "CompleteMultipartUpload", "CompleteMultipartUpload", "HeadObject" }));
        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
    }

    [Test]
    public async Task A_lost_completion_answer_over_an_older_object_of_another_length_is_not_taken_for_success()
    {
        var destination = _factory.OpenS3(Spec(_emulator.Endpoint, _bucket));
        var (key, id, parts, data) = await UploadAsync(destination, 5 * MiB + 5);
        await destination.AbortFileAsync(key, id, CancellationToken.None);
        await _direct.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = _bucket, Key = key, ContentBody = "an older export" });

        Assert.That(() => destination.CompleteFileAsync(key, id, parts, data.Length, CancellationToken.None),
            Throws.TypeOf<DestinationException>().With.Message.Contains("no longer exists"));
    }
}
