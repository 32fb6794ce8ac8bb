using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>
/// The app end to end on Azurite and fauxqs: the timer schedules, the stage functions run off the real queues, and
/// the bucket ends up byte for byte as the local engine's folder, with one manifest per run, whatever the delivery
/// does (duplicates, failures at random points, two instances racing).
/// </summary>
[Category("Integration")]
public sealed class ExportTests
{
    private ExportWorld? _world;
    private readonly List<AppInstance> _apps = [];

    private ExportWorld World => _world ?? throw new InvalidOperationException("The set-up failed.");

    [SetUp]
    public async Task CreateWorld() => _world = await ExportWorld.CreateAsync();

    [TearDown]
    public void Dispose()
    {
        foreach (var app in _apps) app.Dispose();
        _apps.Clear();
        _world?.Dispose();
        _world = null;
    }

    private AppInstance App(Func<IRunStore, IRunStore>? wrapStore = null, Func<IDestinationFactory, IDestinationFactory>? wrapDestinations = null)
    {
        var app = new AppInstance(wrapStore, wrapDestinations);
        _apps.Add(app);
        return app;
    }

    /// <summary>Publishes the config with the customer's bucket and fires the timer once.</summary>
    private async Task ScheduleAsync(AppInstance app)
    {
        await (await app.BackendAsync()).Config.PublishAsync(World.Config(World.S3Destination), CancellationToken.None);
        await app.ScheduleAsync();
    }

    private async Task AssertDeliveredLikeTheLocalEngineAsync(AppInstance app, TrackedUploads? uploads = null)
    {
        var store = (await app.BackendAsync()).Store;
        foreach (var activation in new[] { World.BigCsv, World.SmallTsv })
        {
            var run = await store.GetRunAsync(ExportWorld.RunOf(activation), CancellationToken.None);
            Assert.That(run, Is.Not.Null, activation);
            Assert.That(run!.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
            Assert.That(await ExportWorld.StagingOfAsync(run.RunId), Is.Empty, "staging deleted");
        }
        var expected = await World.ExportLocallyAsync([World.BigCsv, World.SmallTsv]);
        var actual = await World.BucketAsync();
        Assert.That(actual.Keys, Is.EqualTo(expected.Keys));
        Assert.That(actual.Keys.Where(k => k.EndsWith(".manifest.json", StringComparison.Ordinal)), Has.Exactly(2).Items, "one manifest per run");
        Assert.That(actual.Keys.Count(k => k.StartsWith(World.BigCsv + "/", StringComparison.Ordinal)), Is.EqualTo(2), "the CSV is split in two");
        Assert.That(actual[$"{World.BigCsv}/20261123_001.csv"].Length, Is.GreaterThan(5 * 1024 * 1024), "the first file is a multipart upload");
        foreach (var (key, bytes) in expected) Assert.That(actual[key], Is.EqualTo(bytes), key);
        if (uploads is not null)
        {
            Assert.That(uploads.State, Is.Not.Empty);
            Assert.That(uploads.Open, Is.Empty, "every upload started was completed or aborted");
        }
    }

    [Test]
    public async Task The_timer_and_the_stage_functions_deliver_the_same_bytes_as_the_local_engine()
    {
        var uploads = new TrackedUploads();
        var app = App(wrapDestinations: d => uploads.Wrap(d));
        await ScheduleAsync(app);

        await Drive.UntilIdleAsync([app]);

        await AssertDeliveredLikeTheLocalEngineAsync(app, uploads);
        Assert.That(uploads.State.Values, Has.All.EqualTo("completed"), "no upload was started twice");
    }

    [Test]
    public async Task A_second_timer_tick_starts_no_second_run()
    {
        var app = App();
        await ScheduleAsync(app);
        await app.ScheduleAsync();
        await App().ScheduleAsync(); // another instance's timer, same minute

        var store = (await app.BackendAsync()).Store;
        Assert.That(await store.ListRunsAsync(World.BigCsv, 10, CancellationToken.None), Has.Count.EqualTo(1));
        await Drive.UntilIdleAsync([app]);
        await AssertDeliveredLikeTheLocalEngineAsync(app);
    }

    [Test]
    public async Task Every_message_handled_twice_changes_nothing()
    {
        var uploads = new TrackedUploads();
        var app = App(wrapDestinations: d => uploads.Wrap(d));
        await ScheduleAsync(app);

        await Drive.UntilIdleAsync([app], twice: true);

        await AssertDeliveredLikeTheLocalEngineAsync(app, uploads);
    }

    [TestCase(11)]
    [TestCase(29)]
    public async Task Failures_at_random_points_of_random_invocations_are_retried_to_the_same_bytes(int seed)
    {
        var plan = new FaultPlan(seed, faultyInvocations: 0.6, ExportWorld.Host.MaxDequeueCount);
        var uploads = new TrackedUploads();
        var app = App(store => FaultProxy<IRunStore>.Wrap(store, plan),
            destinations => uploads.Wrap(destinations, (_, destination) => FaultProxy<IExportDestination>.Wrap(destination, plan)));
        await ScheduleAsync(app);

        await Drive.UntilIdleAsync([app], faults: plan);

        Assert.That(plan.Injected, Is.GreaterThanOrEqualTo(3), $"faults were injected (seed {seed})");
        await AssertDeliveredLikeTheLocalEngineAsync(app, uploads);
    }

    [Test]
    public async Task Two_instances_racing_on_the_same_queues_with_duplicates_and_failures_deliver_once()
    {
        var plan = new FaultPlan(7, faultyInvocations: 0.2, ExportWorld.Host.MaxDequeueCount);
        var uploads = new TrackedUploads();
        IDestinationFactory Wrap(IDestinationFactory destinations) =>
            uploads.Wrap(destinations, (_, destination) => FaultProxy<IExportDestination>.Wrap(destination, plan));
        var first = App(store => FaultProxy<IRunStore>.Wrap(store, plan), Wrap);
        var second = App(store => FaultProxy<IRunStore>.Wrap(store, plan), Wrap);
        await ScheduleAsync(first);
        await second.ScheduleAsync();

        await Drive.UntilIdleAsync([first, second], twice: true, faults: plan);

        await AssertDeliveredLikeTheLocalEngineAsync(first, uploads);
    }
}
