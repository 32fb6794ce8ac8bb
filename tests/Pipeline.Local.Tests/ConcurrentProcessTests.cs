using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

/// <summary>Two `run` processes on one state file: one drives the run, the other says so; nothing is left in staging.</summary>
public class ConcurrentProcessTests
{
    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    [Test]
    public async Task A_second_pipeline_reports_a_run_the_first_is_driving_as_in_progress_elsewhere_and_leaves_it_alone()
    {
        var activation = TestWorkspace.Activation(_ws.Spec(_ws.WriteCsv("profiles.csv", Profiles.Csv(30_000)), _ws.Output));
        using var owner = await _ws.OpenPipelineAsync();
        using var second = await _ws.OpenPipelineAsync();
        var building = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var goOn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondHandled = 0;

        await owner.Scheduler.TickAsync([activation], CancellationToken.None);
        var driving = owner.DrainAsync(CancellationToken.None, async (m, ct) =>
        {
            if (m is BuildSlice)
            {
                building.TrySetResult();
                await goOn.Task;
            }
            await owner.Stages.HandleAsync(m, ct);
        });
        await building.Task;
        _ws.Time.Advance(TimeSpan.FromSeconds(2));

        var seen = await second.RunDueAsync([activation], CancellationToken.None);
        await second.DrainAsync(CancellationToken.None, (m, ct) => { Interlocked.Increment(ref secondHandled); return second.Stages.HandleAsync(m, ct); });

        Assert.That(seen.Single().Status, Is.EqualTo(RunStatus.Building));
        Assert.That(second.IsInProgressElsewhere(seen.Single().RunId), Is.True);
        Assert.That(secondHandled, Is.Zero);

        goOn.SetResult();
        await driving;
        var run = (await owner.Store.GetRunAsync(seen.Single().RunId, CancellationToken.None))!;
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(Directory.EnumerateFiles(_ws.Output, "*.manifest.json").Count(), Is.EqualTo(1));
        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task Two_pipelines_racing_on_one_state_file_deliver_once_and_neither_reports_a_failure()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(50_000));
        var activation = TestWorkspace.Activation(_ws.Spec(source, _ws.Output));
        using var a = await _ws.OpenPipelineAsync();
        using var b = await _ws.OpenPipelineAsync();

        var results = await Task.WhenAll(
            Task.Run(() => a.RunDueAsync([activation], CancellationToken.None)),
            Task.Run(() => b.RunDueAsync([activation], CancellationToken.None)));

        var pipelines = new[] { a, b };
        for (var i = 0; i < 2; i++)
        {
            foreach (var run in results[i])
                Assert.That(run.Status == RunStatus.Succeeded || pipelines[i].IsInProgressElsewhere(run.RunId), Is.True, $"pipeline {i}: {run.Status} {run.Error}");
        }
        var stored = (await a.Store.ListRunsAsync("test", 10, CancellationToken.None)).Single();
        Assert.That(stored.Status, Is.EqualTo(RunStatus.Succeeded), stored.Error);
        Assert.That(Directory.EnumerateFiles(_ws.Output, "*.manifest.json").Count(), Is.EqualTo(1));
        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task A_pipeline_takes_over_a_run_at_once_when_the_process_driving_it_has_ended()
    {
        var activation = TestWorkspace.Activation(_ws.Spec(_ws.WriteCsv("profiles.csv", Profiles.Csv(10_000)), _ws.Output));
        var dead = await _ws.OpenPipelineAsync();
        await dead.Scheduler.TickAsync([activation], CancellationToken.None);
        await dead.DrainAsync(CancellationToken.None, (m, ct) => m is AssembleFiles ? Task.CompletedTask : dead.Stages.HandleAsync(m, ct));
        Assert.That(new RunLocks(Path.Combine(Path.GetDirectoryName(_ws.State)!, "locks")).TryAcquire((await dead.Store.ListRunsAsync("test", 1, CancellationToken.None)).Single().RunId),
            Is.False, "the driving pipeline holds the run's lock");
        dead.Dispose(); // the process ends: its locks go with it

        using var next = await _ws.OpenPipelineAsync();
        var runs = await next.RunDueAsync([activation], CancellationToken.None);

        Assert.That(runs.Single().Status, Is.EqualTo(RunStatus.Succeeded), runs.Single().Error);
    }

    /// <summary>Staging that fails the run (as another process would) right after a slice's first chunk is staged.</summary>
    private sealed class FailingElsewhereStaging(IStagingStore inner, IRunStore store, TimeProvider time) : IStagingStore
    {
        private int _writes;

        public async Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            var runId = key[..key.IndexOf('/', StringComparison.Ordinal)];
            if (Interlocked.Increment(ref _writes) == 1)
            {
                await store.TryMarkFailedAsync(runId, 1, "failed by another process", time.GetUtcNow(), cancellationToken);
                await inner.DeletePrefixAsync(runId + "/", cancellationToken);
            }
            await inner.WriteAsync(key, content, cancellationToken);
        }

        public Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken) => inner.OpenReadAsync(key, offset, length, cancellationToken);

        public Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken) => inner.GetLengthAsync(key, cancellationToken);

        public Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken) => inner.DeletePrefixAsync(prefix, cancellationToken);
    }

    [Test]
    public async Task A_slice_that_finds_its_run_finished_after_staging_deletes_what_it_staged()
    {
        var store = await SqliteRunStore.OpenAsync(_ws.State, CancellationToken.None);
        var queue = new InProcessWorkQueue();
        var staging = new FailingElsewhereStaging(new FolderStagingStore(_ws.Staging), store, _ws.Time);
        var stages = new ExportStages(store, staging, new LocalDestinationFactory(), queue, _ws.Time, NullLogger<ExportStages>.Instance, buildParallelism: 1);
        var scheduler = new ExportScheduler(store, queue, _ws.Time, NullLogger<ExportScheduler>.Instance);
        var spec = _ws.Spec(_ws.WriteCsv("profiles.csv", Profiles.Csv(30_000)), _ws.Output, s => s with { Tuning = s.Tuning with { Parallelism = 1 } });

        await scheduler.TickAsync([TestWorkspace.Activation(spec)], CancellationToken.None);
        await queue.DrainAsync(stages.HandleAsync, (_, _) => Task.CompletedTask, 1, CancellationToken.None);

        Assert.That((await store.ListRunsAsync("test", 1, CancellationToken.None)).Single().Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty);
    }
}
