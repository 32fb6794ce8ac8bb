using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

/// <summary>A run never strands between two stages: a crash or a failed enqueue after a status change is mended.</summary>
public class StrandedRunTests
{
    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    /// <summary>A queue whose first enqueue holding a message of one stage fails, after the sender changed the run's status.</summary>
    private sealed class FailingQueue(IWorkQueue inner, Type failOn) : IWorkQueue
    {
        public int Failures { get; private set; }

        public Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken)
        {
            if (Failures == 0 && messages.Any(m => m.GetType() == failOn))
            {
                Failures++;
                throw new IOException($"queue unavailable while sending {failOn.Name}");
            }
            return inner.EnqueueAsync(messages, cancellationToken);
        }
    }

    private ExportSpec Spec(string output) =>
        _ws.Spec(_ws.WriteCsv("profiles.csv", Profiles.Csv(30_000)), output, s => s with { Tuning = s.Tuning with { PartSize = FileNameDefaults.MinPartSize } });

    private async Task<SortedDictionary<string, byte[]>> CleanOutputAsync()
    {
        var clean = Path.Combine(_ws.Root, "clean");
        using var pipeline = await _ws.OpenPipelineAsync(Path.Combine(_ws.Root, "clean.db"), Path.Combine(_ws.Root, "clean-stage"));
        var runs = await pipeline.RunDueAsync([TestWorkspace.Activation(Spec(clean))], CancellationToken.None);
        Assert.That(runs.Single().Status, Is.EqualTo(RunStatus.Succeeded), runs.Single().Error);
        return TestWorkspace.Snapshot(clean);
    }

    private static readonly Type[] HandedOffByStages = [typeof(BuildSlice), typeof(AssembleFiles), typeof(UploadPart), typeof(CompleteExport)];

    [TestCaseSource(nameof(HandedOffByStages))]
    public async Task A_failed_enqueue_after_the_status_change_is_mended_by_the_retried_message(Type lost)
    {
        var expected = await CleanOutputAsync();
        FailingQueue? failing = null;
        using var pipeline = await LocalPipeline.OpenAsync(_ws.State, _ws.Staging, _ws.Time, NullLoggerFactory.Instance,
            new LocalPipelineOptions { Parallelism = 2, Queue = inner => failing = new FailingQueue(inner, lost) }, CancellationToken.None);

        var runs = await pipeline.RunDueAsync([TestWorkspace.Activation(Spec(_ws.Output))], CancellationToken.None);

        Assert.That(failing!.Failures, Is.EqualTo(1), "the enqueue never failed: the test proves nothing");
        Assert.That(runs.Single().Status, Is.EqualTo(RunStatus.Succeeded), runs.Single().Error);
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.EqualTo(expected));
        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task A_failed_PlanExport_enqueue_after_scheduling_is_mended_by_the_next_tick()
    {
        var expected = await CleanOutputAsync();
        FailingQueue? failing = null;
        using var pipeline = await LocalPipeline.OpenAsync(_ws.State, _ws.Staging, _ws.Time, NullLoggerFactory.Instance,
            new LocalPipelineOptions { Parallelism = 2, Queue = inner => failing = new FailingQueue(inner, typeof(PlanExport)) }, CancellationToken.None);
        var activation = TestWorkspace.Activation(Spec(_ws.Output));

        Assert.That(async () => await pipeline.Scheduler.TickAsync([activation], CancellationToken.None), Throws.InstanceOf<IOException>());
        var stranded = (await pipeline.Store.ListRunsAsync("test", 10, CancellationToken.None)).Single();
        Assert.That(stranded.Status, Is.EqualTo(RunStatus.Planning));

        var revived = await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None);

        Assert.That(revived.Select(r => r.RunId), Is.EqualTo(new[] { stranded.RunId }));
        var run = await pipeline.Store.GetRunAsync(stranded.RunId, CancellationToken.None);
        Assert.That(run!.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.EqualTo(expected));
    }

    [Test]
    public async Task A_handed_off_run_is_not_sent_again_by_duplicate_messages()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var sent = new List<StageMessage>();
        var activation = TestWorkspace.Activation(Spec(_ws.Output));
        await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None, async (m, ct) =>
        {
            lock (sent) sent.Add(m);
            await pipeline.Stages.HandleAsync(m, ct);
        });
        var run = (await pipeline.Store.ListRunsAsync("test", 1, CancellationToken.None)).Single();
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var delivered = sent.Count;

        // Late duplicates of every stage find the run finished and handed off: they send nothing.
        await pipeline.EnqueueAsync([new PlanExport(run.RunId), new BuildSlice(run.RunId, 0), new AssembleFiles(run.RunId), new UploadPart(run.RunId, 1, 1)], CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None, async (m, ct) =>
        {
            lock (sent) sent.Add(m);
            await pipeline.Stages.HandleAsync(m, ct);
        });

        Assert.That(sent.Count - delivered, Is.EqualTo(4));
    }

    [Test]
    public async Task Completion_that_stopped_before_deleting_staging_is_finished_by_the_retried_message()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = TestWorkspace.Activation(Spec(_ws.Output));
        await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        // Stop before CompleteExport: the run is Completing with its staging in place.
        await pipeline.DrainAsync(CancellationToken.None, (m, ct) => m is CompleteExport ? Task.CompletedTask : pipeline.Stages.HandleAsync(m, ct));
        var run = (await pipeline.Store.ListRunsAsync("test", 1, CancellationToken.None)).Single();
        Assert.That(run.Status, Is.EqualTo(RunStatus.Completing));
        // The manifest and the success are recorded, then the "process" dies before the staging is deleted.
        await pipeline.Store.MarkSucceededAsync(run.RunId, run.Attempt, "test_20261123T020000Z.manifest.json", _ws.Time.GetUtcNow(), CancellationToken.None);
        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Not.Empty);

        await pipeline.EnqueueAsync([new CompleteExport(run.RunId)], CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None, pipeline.Stages.HandleAsync);

        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task The_watchdog_re_drives_a_run_whose_message_was_lost_once_it_has_been_quiet_long_enough()
    {
        var expected = await CleanOutputAsync();
        using var pipeline = await LocalPipeline.OpenAsync(_ws.State, _ws.Staging, _ws.Time, NullLoggerFactory.Instance,
            new LocalPipelineOptions { Parallelism = 2, Watchdog = new ExportWatchdogOptions { StalledAfter = TimeSpan.FromMinutes(15) } }, CancellationToken.None);
        var activation = TestWorkspace.Activation(Spec(_ws.Output));
        await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        // The AssembleFiles message is lost (an instance died holding it, and the queue dropped it).
        await pipeline.DrainAsync(CancellationToken.None, (m, ct) => m is AssembleFiles ? Task.CompletedTask : pipeline.Stages.HandleAsync(m, ct));
        var run = (await pipeline.Store.ListRunsAsync("test", 1, CancellationToken.None)).Single();
        Assert.That(run.Status, Is.EqualTo(RunStatus.Assembling));

        _ws.Time.Advance(TimeSpan.FromMinutes(14));
        var early = await pipeline.Watchdog.RedriveStalledAsync(null, CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None);
        Assert.That(early, Is.Empty);
        Assert.That((await pipeline.Store.GetRunAsync(run.RunId, CancellationToken.None))!.Status, Is.EqualTo(RunStatus.Assembling));

        _ws.Time.Advance(TimeSpan.FromMinutes(1));
        var redriven = await pipeline.Watchdog.RedriveStalledAsync(null, CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None);

        Assert.That(redriven.Select(r => r.RunId), Is.EqualTo(new[] { run.RunId }));
        var after = await pipeline.Store.GetRunAsync(run.RunId, CancellationToken.None);
        Assert.That(after!.Status, Is.EqualTo(RunStatus.Succeeded), after.Error);
        // The manifest records the later completion time; the data files are the same bytes.
        var output = TestWorkspace.Snapshot(_ws.Output);
        Assert.That(output.Keys, Is.EqualTo(expected.Keys));
        Assert.That(output["test_001.csv.gz"], Is.EqualTo(expected["test_001.csv.gz"]));
    }

    [Test]
    public async Task Progress_recorded_by_a_working_stage_holds_the_watchdog_off()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = TestWorkspace.Activation(Spec(_ws.Output));
        await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None, (m, ct) => m is AssembleFiles ? Task.CompletedTask : pipeline.Stages.HandleAsync(m, ct));
        var run = (await pipeline.Store.ListRunsAsync("test", 1, CancellationToken.None)).Single();

        _ws.Time.Advance(TimeSpan.FromMinutes(10));
        await pipeline.Store.TouchRunAsync(run.RunId, run.Attempt, _ws.Time.GetUtcNow(), CancellationToken.None);
        _ws.Time.Advance(TimeSpan.FromMinutes(10));

        Assert.That(await pipeline.Watchdog.RedriveStalledAsync(null, CancellationToken.None), Is.Empty);
    }

    [Test]
    public void The_watchdog_refuses_a_stall_time_below_a_minute()
    {
        Assert.That(() => new ExportWatchdogOptions { StalledAfter = TimeSpan.FromSeconds(5) }.Validate(), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
