using Amazon.S3;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Probing;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;
using Pipeline.TestKit.Emulators;

namespace Pipeline.S3.Tests.Integration;

/// <summary>
/// The destination against each emulator: fauxqs with the SDK defaults, s3rver in compatibility mode.
/// What s3rver cannot do (abort, answer NoSuchUpload to a second completion) is in <see cref="FauxqsOnlyTests"/>.
/// </summary>
[TestFixtureSource(typeof(Emulators), nameof(Emulators.All))]
[Category("Integration")]
public sealed class S3DestinationEmulatorTests(EmulatorKind kind)
{
    private static readonly ObjectProperties Gzip = new("text/csv; charset=utf-8", "gzip");

    private S3Emulator _emulator = null!;
    private AmazonS3Client _direct = null!;
    private S3DestinationFactory _factory = null!;
    private string _bucket = null!;

    private bool Compatibility => _emulator.Compatibility;

    [OneTimeSetUp]
    public async Task StartEmulator()
    {
        _emulator = await Emulators.GetAsync(kind);
        _bucket = $"dest-{kind.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}"[..40];
        _direct = DirectClient(_emulator.DirectEndpoint, Compatibility);
        await _direct.PutBucketAsync(_bucket);
        _factory = Factory();
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _direct?.Dispose();
        _factory?.Dispose();
    }

    private S3Destination Open(S3DestinationFactory? factory = null) =>
        (factory ?? _factory).OpenS3(Spec(_emulator.Endpoint, _bucket, compatibility: Compatibility));

    private static string NewKey(string name) => $"exports/{name}-{Guid.NewGuid():N}.csv.gz";

    private static (int Number, int Offset, int Length)[] Parts(int total, int partSize) =>
        Enumerable.Range(0, (total + partSize - 1) / partSize).Select(i => (i + 1, i * partSize, Math.Min(partSize, total - i * partSize))).ToArray();

    [Test]
    public async Task A_multipart_upload_with_parts_out_of_order_and_one_sent_twice_reads_back_byte_for_byte()
    {
        var destination = Open();
        var key = NewKey("multipart");
        var data = Data(3 * 5 * MiB + 123_457);
        var parts = Parts(data.Length, 5 * MiB);
        var uploadId = await destination.StartFileAsync(key, data.Length, Gzip, CancellationToken.None);
        Assert.That(uploadId, Does.Not.StartWith("put:"));

        var receipts = new Dictionary<int, PartReceipt>();
        PartReceipt? first = null;
        foreach (var n in new[] { 3, 1, 4, 2, 1 })
        {
            var (number, offset, length) = parts[n - 1];
            var receipt = await destination.UploadPartAsync(key, uploadId, number, offset, data.AsMemory(offset, length), CancellationToken.None);
            if (number == 1) first ??= receipt;
            receipts[number] = receipt;
        }
        Assert.That(receipts[1], Is.EqualTo(first), "the same bytes sent twice give the same receipt");
        Assert.That(await destination.ExistsAsync(key, CancellationToken.None), Is.False, "nothing is visible before completion");

        await destination.CompleteFileAsync(key, uploadId, receipts.Values.OrderBy(r => r.PartNumber).ToList(), data.Length, CancellationToken.None);

        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
        var head = await _direct.GetObjectMetadataAsync(_bucket, key);
        Assert.That(head.ContentLength, Is.EqualTo(data.Length));
        Assert.That(head.Headers.ContentType, Is.EqualTo(Gzip.ContentType));
        if (kind == EmulatorKind.Fauxqs)
        {
            // fauxqs computes multipart ETags like S3: the prediction used after a lost completion answer must match.
            Assert.That(head.ETag.Trim('"'), Is.EqualTo(S3Destination.MultipartETag(receipts.Values.ToList())));
        }
    }

    [Test]
    public async Task A_small_file_is_one_put_that_appears_whole_with_its_content_type()
    {
        var destination = Open();
        var key = NewKey("small");
        var data = Data(100_000, seed: 2);
        var uploadId = await destination.StartFileAsync(key, data.Length, Gzip, CancellationToken.None);
        Assert.That(uploadId, Does.StartWith("put:"));
        Assert.That(await destination.ExistsAsync(key, CancellationToken.None), Is.False);

        var receipt = await destination.UploadPartAsync(key, uploadId, 1, 0, data, CancellationToken.None);
        await destination.CompleteFileAsync(key, uploadId, [receipt], data.Length, CancellationToken.None);
        await destination.CompleteFileAsync(key, uploadId, [receipt], data.Length, CancellationToken.None);

        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
        var head = await _direct.GetObjectMetadataAsync(_bucket, key);
        Assert.That(head.Headers.ContentType, Is.EqualTo(Gzip.ContentType));
        // Compatibility mode sends (and so records) no checksum.
        Assert.That(receipt.Sha256Base64, Is.EqualTo(Compatibility ? "" : Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(data))));
    }

    [Test]
    public async Task A_new_destination_instance_continues_an_upload_after_a_crash()
    {
        var key = NewKey("resumed");
        var data = Data(2 * 5 * MiB + 1, seed: 4);
        var parts = Parts(data.Length, 5 * MiB);
        string uploadId;
        PartReceipt firstPart;
        using (var crashed = Factory())
        {
            var before = Open(crashed);
            uploadId = await before.StartFileAsync(key, data.Length, Gzip, CancellationToken.None);
            firstPart = await before.UploadPartAsync(key, uploadId, 1, 0, data.AsMemory(0, 5 * MiB), CancellationToken.None);
        }

        using var restarted = Factory();
        var after = Open(restarted);
        var receipts = new List<PartReceipt> { firstPart };
        foreach (var (number, offset, length) in parts.Skip(1))
            receipts.Add(await after.UploadPartAsync(key, uploadId, number, offset, data.AsMemory(offset, length), CancellationToken.None));
        await after.CompleteFileAsync(key, uploadId, receipts, data.Length, CancellationToken.None);

        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
    }

    [Test]
    public async Task The_manifest_is_one_put_and_ExistsAsync_sees_it()
    {
        var destination = Open();
        var key = $"exports/run-{Guid.NewGuid():N}.manifest.json";
        var manifest = System.Text.Encoding.UTF8.GetBytes("{\"version\": 1, \"files\": []}\n");

        Assert.That(await destination.ExistsAsync(key, CancellationToken.None), Is.False);
        await destination.PutObjectAsync(key, manifest, new ObjectProperties("application/json", null), CancellationToken.None);

        Assert.That(await destination.ExistsAsync(key, CancellationToken.None), Is.True);
        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(manifest));
        Assert.That((await _direct.GetObjectMetadataAsync(_bucket, key)).Headers.ContentType, Is.EqualTo("application/json"));
    }

    [Test]
    public async Task An_unknown_bucket_fails_with_a_message_naming_it()
    {
        var destination = _factory.OpenS3(Spec(_emulator.Endpoint, "no-such-bucket-here", compatibility: Compatibility));

        var error = await Assert.ThrowsAsync<DestinationException>(() =>
            destination.PutObjectAsync("x.json", new byte[] { 1 }, new ObjectProperties("application/json", null), CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("\"no-such-bucket-here\" does not exist").And.Contain("destination \"customer-s3\""));
    }

    [Test]
    public async Task The_validate_probe_writes_and_removes_its_object_and_reports_what_the_store_lacks()
    {
        var findings = await new S3DestinationProbe(_factory)
            .ProbeAsync(Spec(_emulator.Endpoint, _bucket, "probe/", compatibility: Compatibility), CancellationToken.None);
        TestContext.Out.WriteLine(string.Join("\n", findings));

        var notOk = findings.Where(f => f.Status != ProbeStatus.Ok).ToList();
        // Neither emulator lists multipart uploads (fauxqs answers ?uploads with an object listing, s3rver with NotImplemented):
        // exactly what the probe must catch in a real store, as a warning, since exports work without it.
        Assert.That(notOk.Single(f => f.Check == "sweep").Status, Is.EqualTo(ProbeStatus.Warning));
        Assert.That(notOk.Single(f => f.Check == "sweep").Message, Does.Contain("does not support ListMultipartUploads"));
        if (kind == EmulatorKind.Fauxqs) Assert.That(notOk, Has.Count.EqualTo(1));
        else
        {
            // s3rver answers AbortMultipartUpload with MethodNotAllowed: failed exports could not discard their parts.
            Assert.That(notOk, Has.Count.EqualTo(2));
            Assert.That(notOk.Single(f => f.Check == "abort").Status, Is.EqualTo(ProbeStatus.Problem));
            Assert.That(notOk.Single(f => f.Check == "abort").Message, Does.Contain("does not support AbortMultipartUpload"));
        }
        var left = await _direct.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = _bucket, Prefix = "probe/" });
        Assert.That(left.S3Objects ?? [], Is.Empty, "the probe object is gone");
    }
}
