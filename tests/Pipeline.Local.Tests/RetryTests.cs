using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

/// <summary>Failed runs are recoverable: automatic retries with backoff and a limit, and explicit retries of a run or slot.</summary>
public class RetryTests
{
    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    private static readonly DateTimeOffset Slot = new(2026, 11, 23, 2, 0, 0, TimeSpan.Zero);

    private string SourcePath => Path.Combine(_ws.Root, "profiles.csv");

    private SegmentActivation Activation(RetryPolicy retry, Func<ExportSpec, ExportSpec>? change = null) =>
        TestWorkspace.Activation(_ws.Spec(SourcePath, _ws.Output, change)) with { Retry = retry };

    private async Task<ExportRun> RunAsync(LocalPipeline pipeline, SegmentActivation activation) =>
        (await pipeline.Store.GetRunAsync(RunIds.ForSlot(activation.Id, Slot), CancellationToken.None))!;

    [Test]
    public async Task A_failed_scheduled_run_is_retried_by_the_tick_once_its_backoff_has_passed()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(new RetryPolicy(3, TimeSpan.FromMinutes(10)));

        var first = await pipeline.RunDueAsync([activation], CancellationToken.None); // the snapshot is missing
        Assert.That(first.Single().Status, Is.EqualTo(RunStatus.Failed));
        _ws.WriteCsv("profiles.csv", Profiles.Csv(5000));

        _ws.Time.Advance(TimeSpan.FromMinutes(9));
        Assert.That(await pipeline.RunDueAsync([activation], CancellationToken.None), Is.Empty);
        Assert.That((await RunAsync(pipeline, activation)).Attempt, Is.EqualTo(1));

        _ws.Time.Advance(TimeSpan.FromMinutes(1));
        var retried = await pipeline.RunDueAsync([activation], CancellationToken.None);

        Assert.That(retried.Single().RunId, Is.EqualTo(first.Single().RunId));
        Assert.That(retried.Single().Status, Is.EqualTo(RunStatus.Succeeded), retried.Single().Error);
        Assert.That(retried.Single().Attempt, Is.EqualTo(2));
        Assert.That(TestWorkspace.Snapshot(_ws.Output).Keys, Is.EqualTo(new[] { "test_001.csv.gz", "test_20261123T020000Z.manifest.json" }));
    }

    [Test]
    public async Task Retries_back_off_exponentially_and_stop_at_the_limit()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(new RetryPolicy(2, TimeSpan.FromMinutes(10)));
        var attempts = new List<int>();

        async Task TickAt(TimeSpan wait)
        {
            _ws.Time.Advance(wait);
            await pipeline.RunDueAsync([activation], CancellationToken.None);
            var run = await RunAsync(pipeline, activation);
            Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
            attempts.Add(run.Attempt);
        }

        await TickAt(TimeSpan.Zero);                 // attempt 1 fails
        await TickAt(TimeSpan.FromMinutes(10));      // retry 1 after 10 min
        await TickAt(TimeSpan.FromMinutes(19));      // not yet: the second wait is 20 min
        await TickAt(TimeSpan.FromMinutes(1));       // retry 2
        await TickAt(TimeSpan.FromDays(0.5));        // the limit is reached: no more

        Assert.That(attempts, Is.EqualTo(new[] { 1, 2, 2, 3, 3 }));
    }

    [Test]
    public async Task A_failed_run_is_not_retried_once_the_next_slot_has_been_scheduled()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(new RetryPolicy(3, TimeSpan.FromMinutes(10)));
        await pipeline.RunDueAsync([activation], CancellationToken.None);
        _ws.WriteCsv("profiles.csv", Profiles.Csv(100));

        _ws.Time.Advance(TimeSpan.FromDays(1)); // the next day's 02:00 slot is due: it supersedes the failed one
        var runs = await pipeline.RunDueAsync([activation], CancellationToken.None);

        Assert.That(runs.Single().Slot, Is.EqualTo(Slot.AddDays(1)));
        Assert.That(runs.Single().Status, Is.EqualTo(RunStatus.Succeeded), runs.Single().Error);
        var failed = await RunAsync(pipeline, activation);
        Assert.That((failed.Status, failed.Attempt), Is.EqualTo((RunStatus.Failed, 1)));
    }

    [Test]
    public async Task A_retried_full_run_writes_the_same_files_as_a_run_that_never_failed()
    {
        _ws.WriteCsv("profiles.csv", Profiles.Csv(30_000));
        var clean = Path.Combine(_ws.Root, "clean");
        using (var reference = await _ws.OpenPipelineAsync(Path.Combine(_ws.Root, "clean.db"), Path.Combine(_ws.Root, "clean-stage")))
        {
            var done = await reference.RunDueAsync([TestWorkspace.Activation(_ws.Spec(SourcePath, clean))], CancellationToken.None);
            Assert.That(done.Single().Status, Is.EqualTo(RunStatus.Succeeded), done.Single().Error);
        }

        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(RetryPolicy.None);
        await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        // The first upload is lost for good: the poison handler fails the run (uploads aborted, staging deleted).
        await pipeline.DrainAsync(CancellationToken.None, (m, ct) =>
            m is UploadPart ? pipeline.Stages.FailRunAsync(m.RunId, m.Attempt, "the upload was lost", ct) : pipeline.Stages.HandleAsync(m, ct));
        var failed = await RunAsync(pipeline, activation);
        Assert.That(failed.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty);

        var retried = await pipeline.RetryAsync(failed, activation.Spec, CancellationToken.None);

        Assert.That(retried.Status, Is.EqualTo(RunStatus.Succeeded), retried.Error);
        Assert.That((retried.RunId, retried.Slot, retried.Attempt), Is.EqualTo((failed.RunId, failed.Slot, 2)));
        var output = TestWorkspace.Snapshot(_ws.Output);
        var expected = TestWorkspace.Snapshot(clean);
        Assert.That(output.Keys, Is.EqualTo(expected.Keys));
        Assert.That(output["test_001.csv.gz"], Is.EqualTo(expected["test_001.csv.gz"]));
        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task An_incremental_retry_exports_the_window_fixed_when_the_run_was_created()
    {
        var incremental = (Func<ExportSpec, ExportSpec>)(s => s with
        {
            Mode = ExportMode.Incremental,
            Fields = [new OutputField("profileId", "id"), new OutputField("updatedAt", "updatedAt")],
            Output = s.Output with { Compression = OutputCompression.None },
        });
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(new RetryPolicy(1, TimeSpan.FromMinutes(10)), incremental);
        var failed = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();
        Assert.That(failed.Status, Is.EqualTo(RunStatus.Failed));
        _ws.WriteCsv("profiles.csv", Profiles.Csv(1000));

        _ws.Time.Advance(TimeSpan.FromMinutes(10));
        var retried = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();

        Assert.That(retried.Status, Is.EqualTo(RunStatus.Succeeded), retried.Error);
        Assert.That((retried.WatermarkFrom, retried.WatermarkTo), Is.EqualTo((failed.WatermarkFrom, failed.WatermarkTo)));
        Assert.That(await pipeline.Store.GetWatermarkAsync("test", CancellationToken.None), Is.EqualTo(Slot));
        var rows = File.ReadAllText(Path.Combine(_ws.Output, "test_001.csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.That(rows, Has.Count.EqualTo(Enumerable.Range(0, 1000).Count(i => Profiles.IsMember(i) && start.AddHours(i % 500) <= Slot)));
    }

    [Test]
    public async Task A_late_poisoned_message_of_an_earlier_attempt_does_not_fail_the_retry()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(RetryPolicy.None);
        var failed = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();
        _ws.WriteCsv("profiles.csv", Profiles.Csv(1000));
        var next = await pipeline.Scheduler.RetryAsync(failed, activation.Spec, CancellationToken.None);
        Assert.That(next!.Attempt, Is.EqualTo(2));

        // Attempt 1's messages arrive late: a duplicate PlanExport, and a poisoned one that wants to fail the run.
        await pipeline.EnqueueAsync([new PlanExport(failed.RunId) { Attempt = 1 }], CancellationToken.None);
        await pipeline.Stages.FailRunAsync(failed.RunId, 1, "attempt 1 ran out of retries", CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None);

        var run = await RunAsync(pipeline, activation);
        Assert.That((run.Status, run.Attempt, run.Error), Is.EqualTo((RunStatus.Succeeded, 2, (string?)null)));
    }

    [Test]
    public async Task A_late_message_of_an_earlier_attempt_records_nothing_in_the_new_one()
    {
        _ws.WriteCsv("profiles.csv", Profiles.Csv(1000));
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(RetryPolicy.None);
        await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        // Attempt 1 is poisoned at its first slice.
        await pipeline.DrainAsync(CancellationToken.None, (m, ct) =>
            m is BuildSlice ? pipeline.Stages.FailRunAsync(m.RunId, m.Attempt, "slice lost", ct) : pipeline.Stages.HandleAsync(m, ct));
        var failed = await RunAsync(pipeline, activation);
        var next = await pipeline.Scheduler.RetryAsync(failed, activation.Spec, CancellationToken.None);
        // Attempt 2 stops after planning; attempt 1's slice message turns up now.
        await pipeline.DrainAsync(CancellationToken.None, (m, ct) => m is BuildSlice ? Task.CompletedTask : pipeline.Stages.HandleAsync(m, ct));
        await pipeline.EnqueueAsync([new BuildSlice(failed.RunId, 0) { Attempt = 1 }], CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None);

        Assert.That(await pipeline.Store.ListChunksAsync(next!.ProgressId, CancellationToken.None), Is.Empty);
        Assert.That(await pipeline.Store.ListDoneSlicesAsync(next.ProgressId, CancellationToken.None), Is.Empty);
        Assert.That((await RunAsync(pipeline, activation)).Status, Is.EqualTo(RunStatus.Building));
    }

    [Test]
    public async Task Only_one_of_two_concurrent_retries_starts_the_next_attempt()
    {
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(RetryPolicy.None);
        var failed = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();

        var first = await pipeline.Scheduler.RetryAsync(failed, activation.Spec, CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None); // fails again: the snapshot is still missing
        var second = await pipeline.Scheduler.RetryAsync(failed, activation.Spec, CancellationToken.None); // based on attempt 1: stale

        Assert.That(first, Is.Not.Null);
        Assert.That(second, Is.Null);
        Assert.That((await RunAsync(pipeline, activation)).Attempt, Is.EqualTo(2));
    }

    [Test]
    public async Task Running_a_slot_now_creates_its_run_without_moving_the_schedule()
    {
        _ws.WriteCsv("profiles.csv", Profiles.Csv(100));
        using var pipeline = await _ws.OpenPipelineAsync();
        var activation = Activation(RetryPolicy.None);

        var run = await pipeline.RunSlotAsync(activation, Slot.AddDays(-2), CancellationToken.None);

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(run.RunId, Is.EqualTo(RunIds.ForSlot("test", Slot.AddDays(-2))));
        Assert.That(await pipeline.Store.GetLastScheduledSlotAsync("test", CancellationToken.None), Is.Null);
        Assert.That(TestWorkspace.Snapshot(_ws.Output).Keys, Does.Contain("test_20261121T020000Z.manifest.json"));
    }
}
