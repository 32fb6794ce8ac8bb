using Amazon.S3;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Resilience;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Integration;

/// <summary>
/// Throttling, server errors, dropped connections and stalled answers from a proxy in front of each emulator:
/// every request is retried until it lands, and the object read back from the emulator itself is exact
/// (nothing lost or duplicated). Backoff is zero and time is fake, so nothing here waits.
/// </summary>
[TestFixtureSource(typeof(Emulators), nameof(Emulators.All))]
[Category("Integration")]
public sealed class FaultInjectionTests(EmulatorKind kind)
{
    private static readonly ObjectProperties Csv = new("text/csv; charset=utf-8", null);

    private S3Emulator _emulator = null!;
    private AmazonS3Client _direct = null!;
    private string _bucket = null!;
    private FaultInjectingProxy _proxy = null!;

    [OneTimeSetUp]
    public async Task StartEmulator()
    {
        _emulator = await Emulators.GetAsync(kind);
        _bucket = $"faults-{kind.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}"[..32];
        _direct = DirectClient(_emulator.DirectEndpoint, _emulator.Compatibility);
        await _direct.PutBucketAsync(_bucket);
    }

    [OneTimeTearDown]
    public void Dispose() => _direct?.Dispose();

    [SetUp]
    public void NewProxy() => _proxy = new FaultInjectingProxy(_emulator.Endpoint);

    [TearDown]
    public async Task StopProxy()
    {
        // null when the fixture setup failed (no emulator): nothing to stop.
        if (_proxy is not null) await _proxy.DisposeAsync();
    }

    private S3Destination Open(S3DestinationFactory factory) =>
        factory.OpenS3(Spec(_proxy.Endpoint, _bucket, "exports/", compatibility: _emulator.Compatibility));

    /// <summary>A 3-part file (5 MiB, 5 MiB, 1 MiB + 3), parts uploaded concurrently like the UploadPart stage does.</summary>
    private static async Task<(string Key, string UploadId, byte[] Data)> DeliverAsync(S3Destination destination, string name)
    {
        var key = $"exports/{name}-{Guid.NewGuid():N}.csv";
        var data = Data(2 * 5 * MiB + MiB + 3, seed: name.Length);
        var id = await destination.StartFileAsync(key, data.Length, Csv, CancellationToken.None);
        var uploads = Enumerable.Range(0, 3).Select(i =>
        {
            var offset = i * 5 * MiB;
            return destination.UploadPartAsync(key, id, i + 1, offset, data.AsMemory(offset, Math.Min(5 * MiB, data.Length - offset)), CancellationToken.None);
        });
        var receipts = await Task.WhenAll(uploads);
        await destination.CompleteFileAsync(key, id, receipts, data.Length, CancellationToken.None);
        return (key, id, data);
    }

    [Test]
    public async Task Throttling_and_server_errors_are_retried_and_the_object_is_exact()
    {
        _proxy.Inject("CreateMultipartUpload", Fault.InternalError)
            .Inject("UploadPart", Fault.SlowDown, times: 3)
            .Inject("UploadPart", Fault.InternalError)
            .Inject("CompleteMultipartUpload", Fault.SlowDown, times: 2)
            .Inject("PutObject", Fault.SlowDown);
        var loggers = new ListLoggerFactory();
        using var factory = Factory(loggers: loggers, retry: FastRetries(maxRetries: 6));
        var destination = Open(factory);

        var (key, uploadId, data) = await DeliverAsync(destination, "throttled");
        await destination.PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None);

        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
        Assert.That(_proxy.Injected, Has.Count.EqualTo(8));
        Assert.That(_proxy.Forwarded.Count(k => k == "UploadPart"), Is.EqualTo(3), "each part reached the emulator once");
        var retries = loggers.Entries.Where(e => e.Level == LogLevel.Warning && e.Category.Contains("S3RetryPipeline", StringComparison.Ordinal)).ToList();
        Assert.That(retries, Has.Count.EqualTo(8), "every retry is logged");
        var partRetry = retries.First(e => (string?)e.Fields["Operation"] == "UploadPart");
        Assert.That(partRetry.Fields["Target"], Is.EqualTo($"s3://{_bucket}/{key}"));
        Assert.That(partRetry.Fields["UploadId"], Is.EqualTo(uploadId));
        Assert.That(uploadId, Does.Not.StartWith("put:"), "the emulator's own upload id");
        Assert.That(partRetry.Fields["Part"], Is.InRange(1, 3));
        Assert.That(partRetry.Message, Does.Contain("503 SlowDown").Or.Contain("500 InternalError"));
    }

    [Test]
    public async Task Connections_reset_before_or_after_the_emulator_saw_a_request_lose_and_duplicate_nothing()
    {
        _proxy.Inject("CreateMultipartUpload", Fault.DropBeforeForwarding)
            .Inject("UploadPart", Fault.DropBeforeForwarding)
            .Inject("UploadPart", Fault.DropAfterForwarding, times: 2);
        using var factory = Factory();

        var (key, _, data) = await DeliverAsync(Open(factory), "dropped");

        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
        Assert.That(_proxy.Forwarded.Count(k => k == "UploadPart"), Is.EqualTo(5), "two parts reached the emulator twice, with the same bytes");
    }

    [Test]
    public async Task A_stalled_answer_times_out_per_attempt_and_is_retried()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var timeout = TimeSpan.FromSeconds(30);
        _proxy.Inject("UploadPart", Fault.HoldAfterForwarding);
        using var factory = Factory(time: time, retry: FastRetries(attemptTimeout: timeout));

        var destination = Open(factory);
        var key = $"exports/stalled-{Guid.NewGuid():N}.csv";
        var data = Data(5 * MiB + 99, seed: 7);
        var id = await destination.StartFileAsync(key, data.Length, Csv, CancellationToken.None);

        var first = destination.UploadPartAsync(key, id, 1, 0, data.AsMemory(0, 5 * MiB), CancellationToken.None);
        await _proxy.Holding.WaitAsync(ObservedTime.Bound);
        Assert.That(first.IsCompleted, Is.False, "the attempt waits for its answer");
        // No real waiting: the attempt's timeout fires when fake time passes it, and the retry goes at once.
        time.Advance(timeout);
        var receipts = new[] { await first.WaitAsync(ObservedTime.Bound), await destination.UploadPartAsync(key, id, 2, 5 * MiB, data.AsMemory(5 * MiB), CancellationToken.None) };
        await destination.CompleteFileAsync(key, id, receipts, data.Length, CancellationToken.None);

        Assert.That(await ReadAsync(_direct, _bucket, key), Is.EqualTo(data));
        Assert.That(_proxy.Forwarded.Count(k => k == "UploadPart"), Is.EqualTo(3), "part 1 twice (the stalled one and its retry), part 2 once");
        Assert.That(_proxy.Injected.Single(), Is.EqualTo(("UploadPart", Fault.HoldAfterForwarding)));
    }

    [Test]
    public async Task Failures_that_outlast_the_retries_are_rethrown_as_they_are_so_the_queue_retries_later()
    {
        _proxy.Inject("PutObject", Fault.SlowDown, times: 10);
        using var factory = Factory(retry: FastRetries(maxRetries: 2));

        var error = await Assert.ThrowsAsync<AmazonS3Exception>(() =>
            Open(factory).PutObjectAsync("exports/m.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None));

        Assert.That(error!.ErrorCode, Is.EqualTo("SlowDown"));
        Assert.That(_proxy.Received, Has.Count.EqualTo(3), "one attempt and two retries");
        Assert.That(Pipeline.Engine.Runs.ExportStages.IsPermanent(error), Is.False, "the engine treats it as transient");
    }
}
