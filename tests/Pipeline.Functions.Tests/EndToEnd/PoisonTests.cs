using Azure.Storage.Queues;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>
/// Messages that retrying cannot help end in a poison queue, and the poison functions fail their run (aborting its
/// uploads, deleting its staging) with a reason an operator can act on; other activations go on.
/// </summary>
[Category("Integration")]
public sealed class PoisonTests
{
    private ExportWorld? _world;
    private AppInstance? _app;

    private ExportWorld World => _world ?? throw new InvalidOperationException("The set-up failed.");

    [SetUp]
    public async Task CreateWorld() => _world = await ExportWorld.CreateAsync();

    [TearDown]
    public void Dispose()
    {
        _app?.Dispose();
        _app = null;
        _world?.Dispose();
        _world = null;
    }

    /// <summary>A bucket that answers every part with what looks like throttling: the destination's retries and the queue's all fail.</summary>
    private sealed class RefusingParts(IExportDestination inner) : IExportDestination
    {
        public string Describe(string key) => inner.Describe(key);
        public PartLimits PartLimits => inner.PartLimits;
        public Task<string> StartFileAsync(string key, long length, ObjectProperties properties, CancellationToken cancellationToken) =>
            inner.StartFileAsync(key, length, properties, cancellationToken);
        public Task<string> StartFileAsync(string runId, string key, long length, ObjectProperties properties, CancellationToken cancellationToken) =>
            inner.StartFileAsync(runId, key, length, properties, cancellationToken);
        public Task AbortUnrecordedAsync(string runId, string key, string? keepUploadId, CancellationToken cancellationToken) =>
            inner.AbortUnrecordedAsync(runId, key, keepUploadId, cancellationToken);
        public Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
            throw new IOException("SlowDown: Please reduce your request rate. (503, after 6 retries)");
        public Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, long length, PartReader read, CancellationToken cancellationToken) =>
            throw new IOException("SlowDown: Please reduce your request rate. (503, after 6 retries)");
        public Task CompleteFileAsync(string key, string uploadId, IReadOnlyList<PartReceipt> parts, long length, CancellationToken cancellationToken) =>
            inner.CompleteFileAsync(key, uploadId, parts, length, cancellationToken);
        public Task AbortFileAsync(string key, string uploadId, CancellationToken cancellationToken) => inner.AbortFileAsync(key, uploadId, cancellationToken);
        public Task PutObjectAsync(string key, ReadOnlyMemory<byte> content, ObjectProperties properties, CancellationToken cancellationToken) =>
            inner.PutObjectAsync(key, content, properties, cancellationToken);
        public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => inner.ExistsAsync(key, cancellationToken);
    }

    private string Refused => "refused-" + World.Suffix;

    private string RefusedActivation =>
        ", " + $$"""
            { "id": "{{Refused}}", "source": "profiles", "segment": "S1", "destination": "refusing", "prefix": "{{ExportWorld.Prefix}}",
              "fields": ["profileId", "email", "notes"], "format": "csv", "compression": "none",
              "schedule": { "daily": "02:00", "startAt": "2026-11-01T00:00:00Z" } }
        """;

    [Test]
    public async Task A_part_that_always_fails_is_poisoned_and_its_run_fails_with_uploads_aborted_and_staging_deleted_while_the_others_finish()
    {
        var uploads = new TrackedUploads();
        _app = new AppInstance(wrapDestinations: destinations => uploads.Wrap(destinations,
            (spec, destination) => spec.Location == ExportWorld.RefusingBucket ? new RefusingParts(destination) : destination));
        var backend = await _app.BackendAsync();
        await backend.Config.PublishAsync(World.Config(World.S3Destination, RefusedActivation), CancellationToken.None);
        await _app.ScheduleAsync();

        await Drive.UntilIdleAsync([_app]);

        var refused = await backend.Store.GetRunAsync(ExportWorld.RunOf(Refused), CancellationToken.None);
        Assert.That(refused!.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(refused.Error, Does.Contain($"failed {ExportWorld.Host.MaxDequeueCount} times on queue upload-part")
            .And.Contain("moved to upload-part-poison").And.Contain("UploadPart file 1 part").And.Contain("pipeline retry"));
        var refusedUploads = uploads.State.Where(u => u.Key.Key.StartsWith(ExportWorld.Prefix + Refused, StringComparison.Ordinal)).ToList();
        Assert.That(refusedUploads, Is.Not.Empty);
        Assert.That(refusedUploads.Select(u => u.Value), Has.All.EqualTo("aborted"), "its multipart uploads were aborted");
        Assert.That(await ExportWorld.StagingOfAsync(refused.RunId), Is.Empty, "its staging was deleted");

        foreach (var other in new[] { World.BigCsv, World.SmallTsv })
            Assert.That((await backend.Store.GetRunAsync(ExportWorld.RunOf(other), CancellationToken.None))!.Status, Is.EqualTo(RunStatus.Succeeded), other);
        Assert.That((await World.BucketAsync()).Keys.Where(k => k.EndsWith(".manifest.json", StringComparison.Ordinal)), Has.Exactly(2).Items);
        var poison = new QueueServiceClient(Emulators.Azurite.ConnectionString).GetQueueClient(StageQueues.Poison(StageQueues.UploadPart));
        Assert.That((await poison.GetPropertiesAsync()).Value.ApproximateMessagesCount, Is.Zero, "the poison function consumed its messages");
    }

    [Test]
    public async Task A_message_that_is_no_stage_message_goes_to_the_poison_queue_at_once_and_fails_the_run_it_names()
    {
        _app = new AppInstance();
        var backend = await _app.BackendAsync();
        await backend.Config.PublishAsync(World.Config(World.S3Destination), CancellationToken.None);
        await _app.ScheduleAsync();
        var runId = ExportWorld.RunOf(World.BigCsv);
        var body = $$"""{"stage":"reticulate","runId":"{{runId}}","attempt":1}""";

        await _app.InvokeStageAsync(StageQueues.BuildSlice, body, dequeueCount: 1, CancellationToken.None);

        var raw = new QueueServiceClient(Emulators.Azurite.ConnectionString, StageQueues.ClientOptions())
            .GetQueueClient(StageQueues.Poison(StageQueues.BuildSlice));
        var moved = (await raw.ReceiveMessagesAsync(maxMessages: 32)).Value;
        Assert.That(moved.Select(m => m.Body.ToString()), Is.EqualTo(new[] { body }), "moved on the first delivery, the text unchanged");

        await _app.InvokePoisonAsync(StageQueues.BuildSlice, moved[0].Body.ToString(), CancellationToken.None);

        var run = await backend.Store.GetRunAsync(runId, CancellationToken.None);
        Assert.That(run!.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(run.Error, Does.Contain("on queue build-slice is not a stage message").And.Contain("build-slice-poison"));
    }

    [Test]
    public async Task A_stage_message_on_the_wrong_queue_is_not_run_there()
    {
        _app = new AppInstance();
        await _app.BackendAsync();
        var body = StageQueues.Serialize(new UploadPart("some-run", 1, 1));

        await _app.InvokeStageAsync(StageQueues.BuildSlice, body, dequeueCount: 1, CancellationToken.None);

        var poison = new QueueServiceClient(Emulators.Azurite.ConnectionString, StageQueues.ClientOptions()).GetQueueClient(StageQueues.Poison(StageQueues.BuildSlice));
        Assert.That((await poison.ReceiveMessagesAsync(maxMessages: 32)).Value.Select(m => m.Body.ToString()), Is.EqualTo(new[] { body }));
    }

    [Test]
    public async Task A_poisoned_message_of_a_finished_run_fails_nothing()
    {
        _app = new AppInstance();
        var backend = await _app.BackendAsync();
        await backend.Config.PublishAsync(World.Config(World.S3Destination), CancellationToken.None);
        await _app.ScheduleAsync();
        await Drive.UntilIdleAsync([_app]);
        var runId = ExportWorld.RunOf(World.SmallTsv);

        await _app.InvokePoisonAsync(StageQueues.UploadPart, StageQueues.Serialize(new UploadPart(runId, 1, 1)), CancellationToken.None);

        Assert.That((await backend.Store.GetRunAsync(runId, CancellationToken.None))!.Status, Is.EqualTo(RunStatus.Succeeded));
    }
}
