using System.Globalization;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Scheduling;
using Pipeline.Local;
using Pipeline.S3.Delivery;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Integration;

/// <summary>
/// fauxqs 1.9.2 straight, without the shim the other fixtures put in front of it: in default mode it completes a
/// multipart upload whose completion lists part checksums into an EMPTY object and answers 200. The destination
/// must notice (size and ETag of what the store completed) and fail the file; compatibility mode, which the
/// message suggests, delivers the same file intact.
/// </summary>
[Category("Integration")]
public sealed class CompletionVerificationTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly ObjectProperties Csv = new("text/csv; charset=utf-8", null);

    private S3Emulator? _emulator;
    private AmazonS3Client? _direct;
    private string _bucket = "";
    private string? _root;

    private string Endpoint => _emulator!.DirectEndpoint;

    [OneTimeSetUp]
    public async Task StartEmulator()
    {
        _emulator = await Emulators.GetAsync(EmulatorKind.Fauxqs);
        _bucket = $"verify-{Guid.NewGuid():N}"[..30];
        _direct = DirectClient(Endpoint, compatibility: false);
        await _direct.PutBucketAsync(_bucket);
        _root = Path.Combine(Path.GetTempPath(), "pipeline-s3-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        _direct?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_root is null) return;
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Test]
    public async Task A_multipart_file_that_the_store_completed_empty_fails_naming_the_store_answer_and_compatibility_mode()
    {
        using var factory = Factory();
        var destination = factory.OpenS3(Spec(Endpoint, _bucket));
        var key = $"exports/{Guid.NewGuid():N}.csv";
        var data = Data(2 * 5 * MiB + 123, seed: 3);
        var id = await destination.StartFileAsync(key, data.Length, Csv, CancellationToken.None);
        var parts = new[]
        {
            await destination.UploadPartAsync(key, id, 1, 0, data.AsMemory(0, 5 * MiB), CancellationToken.None),
            await destination.UploadPartAsync(key, id, 2, 5 * MiB, data.AsMemory(5 * MiB, 5 * MiB), CancellationToken.None),
            await destination.UploadPartAsync(key, id, 3, 10 * MiB, data.AsMemory(10 * MiB), CancellationToken.None),
        };

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(key, id, parts, data.Length, CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"s3://{_bucket}/{key}: the store completed a 0-byte object, expected 10,485,883 bytes"));
        Assert.That(error.Message, Does.Contain($"expected \"{MultipartETagOf(data, 5 * MiB)}\""));
        Assert.That(error.Message, Does.Contain("\"compatibility\": true").And.Contain("destination \"customer-s3\""));
        Assert.That(ExportStages.IsPermanent(error), Is.True, "retrying would complete another empty object");
    }

    [Test]
    public async Task A_retried_completion_of_an_upload_the_store_completed_empty_still_fails()
    {
        // The first completion reaches fauxqs (which completes an empty object) but its answer is lost; the retry
        // meets NoSuchUpload and must not take the empty object for this upload's.
        await using var proxy = new FaultInjectingProxy(Endpoint).Inject("CompleteMultipartUpload", Fault.DropAfterForwarding);
        using var factory = Factory();
        var destination = factory.OpenS3(Spec(proxy.Endpoint, _bucket));
        var key = $"exports/{Guid.NewGuid():N}.csv";
        var data = Data(5 * MiB + 7, seed: 5);
        var id = await destination.StartFileAsync(key, data.Length, Csv, CancellationToken.None);
        var parts = new[]
        {
            await destination.UploadPartAsync(key, id, 1, 0, data.AsMemory(0, 5 * MiB), CancellationToken.None),
            await destination.UploadPartAsync(key, id, 2, 5 * MiB, data.AsMemory(5 * MiB), CancellationToken.None),
        };

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(key, id, parts, data.Length, CancellationToken.None));

        Assert.That(proxy.Forwarded.Where(k => k != "UploadPart"), Is.EqualTo(new[] { "CreateMultipartUpload", "CompleteMultipartUpload", "CompleteMultipartUpload", "HeadObject" }));
        Assert.That(error!.Message, Does.Contain("0-byte object, expected 5,242,887 bytes"));
    }

    [Test]
    public async Task An_export_in_default_mode_fails_and_writes_no_manifest_and_compatibility_mode_delivers_it()
    {
        var source = WriteSource(60_000);

        var failed = await RunAsync("default", source, compatibility: false);

        Assert.That(failed.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(failed.Error, Does.Contain("the store completed a 0-byte object").And.Contain("\"compatibility\": true"));
        Assert.That(await KeysAsync("default/"), Has.None.EndsWith(".manifest.json"), "no manifest lists the empty file");

        var delivered = await RunAsync("compat", source, compatibility: true);

        Assert.That(delivered.Status, Is.EqualTo(RunStatus.Succeeded), delivered.Error);
        var keys = await KeysAsync("compat/");
        Assert.That(keys, Has.Exactly(1).EndsWith(".manifest.json"));
        var file = keys.Single(k => k.EndsWith(".csv", StringComparison.Ordinal));
        var bytes = await ReadAsync(_direct!, _bucket, file);
        Assert.That(bytes.Length, Is.GreaterThan(S3Destination.SinglePutThreshold), "a multipart upload");
        Assert.That(Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(60_000 + 1), "header and every row");
    }

    private async Task<IReadOnlyList<string>> KeysAsync(string prefix)
    {
        var listing = await _direct!.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix });
        return (listing.S3Objects ?? []).Select(o => o.Key).ToList();
    }

    private string WriteSource(int rows)
    {
        var path = Path.Combine(_root!, "profiles.csv");
        var csv = new StringBuilder("profileId,email,notes,segments\n");
        for (var i = 0; i < rows; i++)
            csv.Append(CultureInfo.InvariantCulture, $"p{i:D7},user{i}@example.com,note {i} {new string((char)('a' + i % 26), 80)},S1\n");
        File.WriteAllText(path, csv.ToString());
        return path;
    }

    private async Task<ExportRun> RunAsync(string name, string source, bool compatibility)
    {
        var spec = new ExportSpec
        {
            ActivationId = name,
            Source = new SourceSpec { Path = source },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "id"), new OutputField("email", "email"), new OutputField("notes", "notes")],
            Destination = Spec(Endpoint, _bucket, name + "/", compatibility: compatibility),
            FileName = "{runTime:yyyyMMdd}_{index:3}",
            Output = new FormatSpec { Compression = OutputCompression.None },
            Tuning = new TuningSpec { ChunkSize = MiB, Parallelism = 2, PartSize = 5 * MiB },
        };
        var activation = new SegmentActivation(name, true, spec, ExportSchedule.FromCron("0 2 * * *", TimeZoneInfo.Utc, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)));
        using var s3 = Factory();
        var pipeline = await LocalPipeline.OpenAsync(Path.Combine(_root!, name, "state.db"), Path.Combine(_root!, name, "staging"),
            new FakeTimeProvider(Now), NullLoggerFactory.Instance, parallelism: 2, destinations: new DestinationFactories(s3));
        return (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();
    }
}
