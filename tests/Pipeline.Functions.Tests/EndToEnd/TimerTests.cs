using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Azure.Configuration;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>The timers: the scheduler keeps going past a broken config or activation, the watchdog re-drives, the sweep cleans up.</summary>
[Category("Integration")]
public sealed class TimerTests
{
    private ExportWorld? _world;
    private AppInstance? _app;
    private readonly CapturedLogs _logs = new();

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

    private AppInstance App(Func<IRunStore, IRunStore>? wrapStore = null, TimeProvider? time = null) =>
        _app = new AppInstance(wrapStore, time: time, services: s => s.AddSingleton<ILoggerProvider>(_logs));

    private async Task<ExportRun?> RunOfAsync(string activation) =>
        await (await _app!.BackendAsync()).Store.GetRunAsync(ExportWorld.RunOf(activation), CancellationToken.None);

    [Test]
    public async Task A_broken_published_config_is_reported_and_the_last_good_one_stays_in_force()
    {
        var app = App();
        var backend = await app.BackendAsync();
        await backend.Config.PublishAsync(World.Config(World.S3Destination), CancellationToken.None);
        Assert.That((await backend.Config.LoadAsync(CancellationToken.None)).Problem, Is.Null);
        // Written past `pipeline config push` (which validates): an activation without its fields.
        await new BlobServiceClient(Emulators.Azurite.ConnectionString).GetBlobContainerClient(PublishedConfig.ContainerName)
            .GetBlobClient(PublishedConfig.BlobName).UploadAsync(BinaryData.FromString("""{ "activations": [ { "id": "half" } ] }"""), overwrite: true);

        await app.ScheduleAsync();

        Assert.That(await RunOfAsync(World.BigCsv), Is.Not.Null, "scheduled from the last good config");
        var error = _logs.Entries.Single(e => e.Level == LogLevel.Error && e.Category.EndsWith(nameof(ScheduleExports), StringComparison.Ordinal));
        Assert.That(error.Message, Does.Contain("config/pipeline.json").And.Contain("last good one stays in force").And.Contain("Fix:"));
        Assert.That(error.Fields["ConfigBlob"], Is.EqualTo(backend.Config.Location));
    }

    [Test]
    public async Task Without_any_published_config_the_tick_reports_it_and_names_the_push()
    {
        await new BlobServiceClient(Emulators.Azurite.ConnectionString).GetBlobContainerClient(PublishedConfig.ContainerName)
            .DeleteBlobIfExistsAsync(PublishedConfig.BlobName);
        var app = App();
        await app.BackendAsync();

        await app.ScheduleAsync();

        Assert.That(_logs.Entries.Where(e => e.Level == LogLevel.Error).Select(e => e.Message),
            Has.One.Contains("No activations are scheduled").And.Contains("pipeline config push"));
    }

    [Test]
    public async Task An_activation_that_fails_to_schedule_does_not_stop_the_others()
    {
        var broken = World.BigCsv;
        var app = App(store => new FailingSchedule(store, broken));
        await (await app.BackendAsync()).Config.PublishAsync(World.Config(World.S3Destination), CancellationToken.None);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(app.ScheduleAsync);

        Assert.That(error!.Message, Does.Contain($"1 of 2 activations could not be scheduled").And.Contain(broken));
        Assert.That(await RunOfAsync(World.SmallTsv), Is.Not.Null, "the other activation was scheduled");
        Assert.That(await RunOfAsync(broken), Is.Null);
        var logged = _logs.Entries.Single(e => e.Level == LogLevel.Error && e.Message.Contains("could not be scheduled this minute", StringComparison.Ordinal));
        Assert.That(logged.Fields["ActivationId"], Is.EqualTo(broken));
    }

    [Test]
    public async Task The_watchdog_re_sends_the_messages_of_a_run_that_made_no_progress()
    {
        var clock = new FakeTimeProvider(ExportWorld.Now);
        var app = App(time: clock);
        await (await app.BackendAsync()).Config.PublishAsync(World.Config(World.S3Destination), CancellationToken.None);
        await app.ScheduleAsync();
        var queue = new QueueServiceClient(Emulators.Azurite.ConnectionString, StageQueues.ClientOptions()).GetQueueClient(StageQueues.PlanExport);
        await queue.ClearMessagesAsync(); // the messages are lost
        var watchdog = app.Create<Watchdog>();
        string[] ours = [ExportWorld.RunOf(World.BigCsv), ExportWorld.RunOf(World.SmallTsv)];
        // Runs other tests left unfinished in the shared tables are re-driven too: only this test's count.
        async Task<IEnumerable<string>> ResentAsync() =>
            (await queue.PeekMessagesAsync(32)).Value.Select(m => StageQueues.Deserialize(m.Body, StageQueues.PlanExport).RunId).Where(ours.Contains);

        clock.Advance(TimeSpan.FromMinutes(14));
        await watchdog.Run(new TimerInfo(), CancellationToken.None);
        Assert.That(await ResentAsync(), Is.Empty, "not stalled yet (watchdog.stalledAfter: 15 minutes)");

        clock.Advance(TimeSpan.FromMinutes(2));
        await watchdog.Run(new TimerInfo(), CancellationToken.None);
        Assert.That(await ResentAsync(), Is.EquivalentTo(ours));
    }

    [Test]
    public async Task The_sweep_deletes_stale_staging_that_no_unfinished_run_owns()
    {
        // Eight days on: everything staged now is past the default 7-day age.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromDays(8));
        var app = App(time: clock);
        var backend = await app.BackendAsync();
        await backend.Config.PublishAsync(World.Config(World.S3Destination), CancellationToken.None);
        await app.ScheduleAsync();
        var live = (await backend.Store.ListUnfinishedRunsAsync(CancellationToken.None)).First(r => r.ActivationId == World.BigCsv);
        var staging = new BlobServiceClient(Emulators.Azurite.ConnectionString).GetBlobContainerClient(BlobStagingStore.ContainerName);
        await staging.CreateIfNotExistsAsync();
        var abandoned = $"gone-{World.Suffix}-20261101T020000Z-00000000/s00000-c000000.part";
        var owned = $"{live.ProgressId}/s00000-c000000.part";
        foreach (var name in new[] { abandoned, owned }) await staging.GetBlobClient(name).UploadAsync(BinaryData.FromString("chunk"), overwrite: true);

        await app.Create<SweepStaleUploads>().Run(new TimerInfo(), CancellationToken.None);

        Assert.That((await staging.GetBlobClient(abandoned).ExistsAsync()).Value, Is.False, "left by a run that is gone");
        Assert.That((await staging.GetBlobClient(owned).ExistsAsync()).Value, Is.True, "its run is unfinished");
        Assert.That(_logs.Entries.Select(e => e.Message), Has.Some.Contains("staging blob(s) older than"));
    }

    /// <summary>A run store whose scheduling of one activation fails, as a throttled or broken table partition would.</summary>
    private sealed class FailingSchedule(IRunStore inner, string activationId) : IRunStore
    {
        public Task<DateTimeOffset?> GetLastScheduledSlotAsync(string id, CancellationToken ct) =>
            id == activationId ? throw new InvalidOperationException("Table partition unavailable (injected)") : inner.GetLastScheduledSlotAsync(id, ct);
        public Task<bool> TryScheduleRunAsync(ExportRun run, DateTimeOffset? expectedLastSlot, CancellationToken ct) => inner.TryScheduleRunAsync(run, expectedLastSlot, ct);
        public Task<ExportRun> CreateRunIfAbsentAsync(ExportRun run, CancellationToken ct) => inner.CreateRunIfAbsentAsync(run, ct);
        public Task<ExportRun?> GetRunAsync(string runId, CancellationToken ct) => inner.GetRunAsync(runId, ct);
        public Task<IReadOnlyList<ExportRun>> ListUnfinishedRunsAsync(CancellationToken ct) => inner.ListUnfinishedRunsAsync(ct);
        public Task<IReadOnlyList<ExportRun>> ListRunsAsync(string id, int limit, CancellationToken ct) => inner.ListRunsAsync(id, limit, ct);
        public Task<bool> TryTransitionAsync(string runId, int attempt, RunStatus from, RunStatus to, DateTimeOffset at, CancellationToken ct) =>
            inner.TryTransitionAsync(runId, attempt, from, to, at, ct);
        public Task MarkHandedOffAsync(string runId, int attempt, RunStatus status, CancellationToken ct) => inner.MarkHandedOffAsync(runId, attempt, status, ct);
        public Task TouchRunAsync(string runId, int attempt, DateTimeOffset at, CancellationToken ct) => inner.TouchRunAsync(runId, attempt, at, ct);
        public Task MarkSucceededAsync(string runId, int attempt, string manifestKey, DateTimeOffset completedAt, CancellationToken ct) =>
            inner.MarkSucceededAsync(runId, attempt, manifestKey, completedAt, ct);
        public Task<bool> TryMarkFailedAsync(string runId, int attempt, string error, DateTimeOffset completedAt, CancellationToken ct) =>
            inner.TryMarkFailedAsync(runId, attempt, error, completedAt, ct);
        public Task<bool> TryRestartRunAsync(ExportRun next, CancellationToken ct) => inner.TryRestartRunAsync(next, ct);
        public Task<DateTimeOffset?> GetWatermarkAsync(string id, CancellationToken ct) => inner.GetWatermarkAsync(id, ct);
        public Task<T> SetOnceAsync<T>(string runId, string name, T value, CancellationToken ct) where T : class => inner.SetOnceAsync(runId, name, value, ct);
        public Task<T?> GetDocumentAsync<T>(string runId, string name, CancellationToken ct) where T : class => inner.GetDocumentAsync<T>(runId, name, ct);
        public Task RecordChunkAsync(string runId, ChunkRecord chunk, CancellationToken ct) => inner.RecordChunkAsync(runId, chunk, ct);
        public Task<IReadOnlyList<ChunkRecord>> ListChunksAsync(string runId, CancellationToken ct) => inner.ListChunksAsync(runId, ct);
        public Task<int> RecordSliceDoneAsync(string runId, int slice, int chunkCount, CancellationToken ct) => inner.RecordSliceDoneAsync(runId, slice, chunkCount, ct);
        public Task<IReadOnlySet<int>> ListDoneSlicesAsync(string runId, CancellationToken ct) => inner.ListDoneSlicesAsync(runId, ct);
        public Task<int> RecordPartAsync(string runId, PartRecord part, CancellationToken ct) => inner.RecordPartAsync(runId, part, ct);
        public Task<IReadOnlyList<PartRecord>> ListPartsAsync(string runId, CancellationToken ct) => inner.ListPartsAsync(runId, ct);
        public Task<bool> HasPartAsync(string runId, int file, int part, CancellationToken ct) => inner.HasPartAsync(runId, file, part, ct);
        public Task<int> CountPartsAsync(string runId, CancellationToken ct) => inner.CountPartsAsync(runId, ct);
    }
}
