using Microsoft.Extensions.Logging;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Runs;

/// <summary>ExportStages when messages come twice, late or never, when a step fails half way, and when a run fails.</summary>
public class ExportStagesRecoveryTests
{
    private RunHarness _h = null!;

    [SetUp]
    public async Task SetUp() => _h = await RunHarness.CreateAsync();

    [TearDown]
    public void TearDown() => _h.Dispose();

    private static readonly CancellationToken None = CancellationToken.None;

    private string TwoSourceFiles()
    {
        _h.WriteSource("a.csv", 40);
        return Path.GetDirectoryName(_h.WriteSource("b.csv", 30, first: 40))!;
    }

    private Task Handle(StageMessage message) => _h.Stages.HandleAsync(message, None);

    [Test]
    public async Task A_message_of_an_earlier_attempt_does_nothing()
    {
        var run = await _h.Store.CreateRunIfAbsentAsync(await _h.Scheduler.NewRunAsync("r1", _h.Spec(TwoSourceFiles()), RunHarness.Slot, None) with { Attempt = 2 }, None);

        await Handle(new PlanExport(run.RunId) { Attempt = 1 });

        Assert.That((await _h.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Planning));
        Assert.That(_h.Queue.Sent, Is.Empty);
        await Handle(new PlanExport(run.RunId) { Attempt = 2 });
        Assert.That((await _h.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Building));
    }

    [Test]
    public async Task A_message_for_an_unknown_run_does_nothing()
    {
        await Handle(new PlanExport("no-such-run"));

        Assert.That(_h.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task A_duplicate_message_for_a_run_that_has_moved_on_and_handed_off_sends_nothing()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));

        await Handle(new PlanExport(run.RunId));

        Assert.That(_h.Queue.Sent, Is.Empty);
        Assert.That(_h.StageLog.At(LogLevel.Warning), Is.Empty);
    }

    [Test]
    public async Task A_hand_off_lost_after_the_status_change_is_sent_again_by_the_retried_message()
    {
        var run = await _h.CreateRunAsync(_h.Spec(TwoSourceFiles()));
        _h.Queue.FailNext = new IOException("queue unavailable");

        Assert.That(() => Handle(new PlanExport(run.RunId)), Throws.TypeOf<IOException>(), "not a permanent error: the queue retries the message");
        var stranded = await _h.GetRunAsync(run.RunId);
        Assert.That((stranded.Status, stranded.HandedOff), Is.EqualTo((RunStatus.Building, false)));

        await Handle(new PlanExport(run.RunId));

        Assert.That(_h.Queue.Sent, Is.EqualTo(new StageMessage[] { new BuildSlice(run.RunId, 0), new BuildSlice(run.RunId, 1) }));
        Assert.That((await _h.GetRunAsync(run.RunId)).HandedOff, Is.True);
        Assert.That(_h.StageLog.At(LogLevel.Warning), Is.EqualTo(new[] { $"Run {run.RunId} is at Building but its messages were never sent: sending them now" }));
    }

    [Test]
    public async Task A_message_two_stages_behind_does_not_resend_the_current_stage()
    {
        var run = await _h.DriveUntilAsync<AssembleFiles>(_h.Spec(TwoSourceFiles()));
        await _h.Store.TryTransitionAsync(run.RunId, 1, RunStatus.Assembling, RunStatus.Uploading, _h.Time.GetUtcNow(), None);

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(_h.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task Completion_that_stopped_before_deleting_staging_is_finished_by_the_retried_message()
    {
        // The last part's hand-off is never recorded, so the run succeeds with HandedOff still false.
        _h.Spy.Before(nameof(IRunStore.MarkHandedOffAsync), args => (RunStatus)args[2]! == RunStatus.Completing ? Task.FromException(new IOException("state store is gone")) : null);
        var run = await _h.CreateRunAsync(_h.Spec(TwoSourceFiles()));
        await StageHandOff.SendPendingAsync(_h.Store, _h.Queue, run, None);
        while (_h.Queue.TryTake(out var message))
        {
            try { await Handle(message); }
            catch (IOException) { }
        }
        run = await _h.GetRunAsync(run.RunId);
        Assert.That((run.Status, run.HandedOff), Is.EqualTo((RunStatus.Succeeded, false)));
        await _h.Staging.WriteAsync(StagingKeys.Chunk(run.ProgressId, 0, 0), new byte[] { 1 }, None);
        var calls = _h.Destination.Calls.Count;

        await Handle(new CompleteExport(run.RunId));

        Assert.That(_h.StagedFiles(), Is.Empty);
        Assert.That(_h.Destination.Calls, Has.Count.EqualTo(calls), "nothing is delivered again");
        Assert.That(_h.StageLog.At(LogLevel.Warning), Is.Empty, "a succeeded run has no messages to send");
    }

    [Test]
    public async Task Any_other_message_for_a_succeeded_run_leaves_staging_alone()
    {
        var run = await _h.ExportAsync(_h.Spec(TwoSourceFiles()));
        await _h.Staging.WriteAsync(StagingKeys.Chunk(run.ProgressId, 0, 0), new byte[] { 1 }, None);

        await Handle(new UploadPart(run.RunId, 1, 1));

        Assert.That(_h.StagedFiles(), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Deleting_staging_removes_every_attempts_and_nothing_of_other_runs()
    {
        var run = await _h.CreateRunAsync(_h.Spec(TwoSourceFiles())) with { Attempt = 3 };
        foreach (var prefix in new[] { run.RunId, run.RunId + "-attempt2", run.RunId + "-attempt3", run.RunId + "-attempt4", "other-run" })
            await _h.Staging.WriteAsync(StagingKeys.Chunk(prefix, 0, 0), new byte[] { 1 }, None);

        await _h.Stages.DeleteStagingAsync(run, None);

        Assert.That(_h.StagedFiles(), Is.EqualTo(new[]
        {
            Path.Combine("other-run", "s00000-c000000.part"),
            Path.Combine(run.RunId + "-attempt4", "s00000-c000000.part"),
        }.Order(StringComparer.Ordinal)));
    }

    [Test]
    public async Task A_stage_records_progress_when_it_starts_unless_it_did_less_than_ten_seconds_ago()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        var planned = (await _h.GetRunAsync(run.RunId)).LastProgressAt!.Value;

        _h.Time.Advance(TimeSpan.FromSeconds(10));
        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That((await _h.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(planned.AddSeconds(10)), "ten seconds after the last record");

        _h.Time.Advance(TimeSpan.FromSeconds(9.999));
        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That((await _h.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(planned.AddSeconds(10)), "recorded less than ten seconds ago");

        _h.Time.Advance(TimeSpan.FromMilliseconds(1));
        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That((await _h.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(planned.AddSeconds(20)));
    }

    [Test]
    public async Task A_run_without_recorded_progress_records_it_when_a_stage_starts()
    {
        var run = await _h.Store.CreateRunIfAbsentAsync(await _h.Scheduler.NewRunAsync("r1", _h.Spec(TwoSourceFiles()), RunHarness.Slot, None) with { LastProgressAt = null }, None);
        _h.Spy.Before(nameof(IRunStore.SetOnceAsync), _ => Task.FromException(new IOException("state store is gone")));

        Assert.That(() => Handle(new PlanExport(run.RunId)), Throws.TypeOf<IOException>());

        Assert.That((await _h.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(_h.Time.GetUtcNow()));
    }

    [Test]
    public async Task A_slice_built_again_after_a_crash_is_not_rebuilt_and_the_last_slice_moves_the_run_on()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        await Handle(new BuildSlice(run.RunId, 0));
        var chunks = await _h.Store.ListChunksAsync(run.ProgressId, None);

        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That(await _h.Store.ListChunksAsync(run.ProgressId, None), Is.EqualTo(chunks), "slice 0 is not built twice");
        Assert.That((await _h.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Building), "one of two slices is done");
        Assert.That(_h.Queue.Sent, Is.Empty);

        await Handle(new BuildSlice(run.RunId, 1));
        Assert.That((await _h.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Assembling));
        Assert.That(_h.Queue.Sent, Is.EqualTo(new[] { new AssembleFiles(run.RunId) }));
    }

    [Test]
    public async Task Of_two_stages_moving_a_run_on_only_the_one_that_moved_it_sends_the_next_messages()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        await Handle(new BuildSlice(run.RunId, 0));
        // Another process's copy of the last slice moves the run first.
        _h.Spy.Before(nameof(IRunStore.TryTransitionAsync), args => _h.Inner.TryTransitionAsync(run.RunId, 1, RunStatus.Building, RunStatus.Assembling, _h.Time.GetUtcNow(), None));

        await Handle(new BuildSlice(run.RunId, 1));

        Assert.That(_h.Queue.Sent, Is.Empty);
        var moved = await _h.GetRunAsync(run.RunId);
        Assert.That((moved.Status, moved.HandedOff), Is.EqualTo((RunStatus.Assembling, false)), "the hand-off is the other process's to record");
    }

    [Test]
    public async Task A_slice_whose_chunks_were_not_all_recorded_fails_the_message_so_it_is_built_again()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        _h.Spy.Instead(nameof(IRunStore.RecordChunkAsync), _ => Task.CompletedTask);

        Assert.That(() => Handle(new BuildSlice(run.RunId, 0)),
            Throws.InvalidOperationException.With.Message.EqualTo($"Slice 0 of run {run.RunId} read 1 chunks but 0 are recorded."));
        Assert.That(await _h.Store.ListDoneSlicesAsync(run.ProgressId, None), Is.Empty);
    }

    [Test]
    public async Task A_slice_that_finds_its_run_failed_after_building_deletes_what_it_staged()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        _h.Spy.Before(nameof(IRunStore.RecordSliceDoneAsync), _ => _h.Store.TryMarkFailedAsync(run.RunId, 1, "failed elsewhere", _h.Time.GetUtcNow(), None));

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(_h.StagedFiles(), Is.Empty);
    }

    [Test]
    public async Task A_slice_that_finds_a_newer_attempt_after_building_deletes_what_it_staged()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        _h.Spy.Before(nameof(IRunStore.RecordSliceDoneAsync), async _ =>
        {
            _h.Spy.Reset(nameof(IRunStore.RecordSliceDoneAsync));
            await _h.Store.TryMarkFailedAsync(run.RunId, 1, "failed elsewhere", _h.Time.GetUtcNow(), None);
            var failed = await _h.GetRunAsync(run.RunId);
            await _h.Scheduler.RetryAsync(failed, failed.Spec, None);
            // The new attempt has staged something of its own: it stays.
            await _h.Staging.WriteAsync(StagingKeys.Chunk(ExportRun.ProgressIdFor(run.RunId, 2), 0, 0), new byte[] { 1 }, None);
        });

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(_h.StagedFiles(), Is.EqualTo(new[] { Path.Combine(run.RunId + "-attempt2", "s00000-c000000.part") }));
    }

    [Test]
    public async Task A_slice_of_a_live_run_keeps_what_it_staged()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(_h.StagedFiles(), Has.Length.EqualTo(1));
        Assert.That(_h.StagedFiles()[0], Does.StartWith(run.RunId));
    }

    [Test]
    public async Task A_long_build_records_progress_every_ten_seconds_so_the_watchdog_leaves_it_alone()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        var gate = new GatedSourceStore();
        var touched = new TaskCompletionSource<DateTimeOffset>(TaskCreationOptions.RunContinuationsAsynchronously);
        _h.Spy.Before(nameof(IRunStore.TouchRunAsync), args =>
        {
            touched.TrySetResult((DateTimeOffset)args[2]!);
            return null;
        });
        var started = _h.Time.GetUtcNow();

        var build = _h.NewStages(gate).HandleAsync(new BuildSlice(run.RunId, 0), None);
        await gate.Reading.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(touched.Task.IsCompleted, Is.False, "nothing is recorded before ten seconds pass");
        _h.Time.Advance(TimeSpan.FromSeconds(10));
        var at = await touched.Task.WaitAsync(TimeSpan.FromSeconds(30));
        gate.Open();
        await build.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(at, Is.EqualTo(started.AddSeconds(10)));
        Assert.That((await _h.Store.ListDoneSlicesAsync(run.ProgressId, None)), Is.EqualTo(new[] { 0 }));
    }

    [Test]
    public async Task A_heartbeat_the_store_refuses_fails_the_slice_so_the_queue_retries_it()
    {
        var run = await _h.DriveUntilAsync<BuildSlice>(_h.Spec(TwoSourceFiles()));
        var gate = new GatedSourceStore();
        _h.Spy.Before(nameof(IRunStore.TouchRunAsync), _ => Task.FromException(new IOException("state store is gone")));

        var build = _h.NewStages(gate).HandleAsync(new BuildSlice(run.RunId, 0), None);
        await gate.Reading.WaitAsync(TimeSpan.FromSeconds(30));
        _h.Time.Advance(TimeSpan.FromSeconds(10));
        gate.Open();

        Assert.That(() => build.WaitAsync(TimeSpan.FromSeconds(30)), Throws.TypeOf<IOException>().With.Message.EqualTo("state store is gone"));
    }

    /// <summary>Local files, but the first read waits until the test opens the gate.</summary>
    private sealed class GatedSourceStore : ISourceStore
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _reading = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Reading => _reading.Task;

        public void Open() => _open.TrySetResult();

        public bool Accepts(string location) => FileSourceStore.Instance.Accepts(location);

        public Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken) => FileSourceStore.Instance.ListAsync(location, cancellationToken);

        public async Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken)
        {
            _reading.TrySetResult();
            await _open.Task;
            return await FileSourceStore.Instance.OpenReadAsync(location, null, cancellationToken);
        }

        public async ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            _reading.TrySetResult();
            await _open.Task;
            return await FileSourceStore.Instance.ReadAsync(location, null, offset, buffer, cancellationToken);
        }
    }
}
