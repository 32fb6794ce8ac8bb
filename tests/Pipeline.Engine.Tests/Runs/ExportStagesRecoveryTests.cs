using Microsoft.Extensions.Logging;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Runs;

/// <summary>ExportStages when messages come twice, late or never, when a step fails half way, and when a run fails.</summary>
public class ExportStagesRecoveryTests : RunHarnessFixture
{
    private Task Handle(StageMessage message) => H.Stages.HandleAsync(message, None);

    [Test]
    public async Task A_message_of_an_earlier_attempt_does_nothing()
    {
        var run = await H.Store.CreateRunIfAbsentAsync(await H.Scheduler.NewRunAsync("r1", H.Spec(TwoSourceFiles()), RunHarness.Slot, None) with { Attempt = 2 }, None);

        await Handle(new PlanExport(run.RunId) { Attempt = 1 });

        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Planning));
        Assert.That(H.Queue.Sent, Is.Empty);
        await Handle(new PlanExport(run.RunId) { Attempt = 2 });
        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Building));
    }

    [Test]
    public async Task A_message_for_an_unknown_run_does_nothing()
    {
        await Handle(new PlanExport("no-such-run"));

        Assert.That(H.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task A_duplicate_message_for_a_run_that_has_moved_on_and_handed_off_sends_nothing()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));

        await Handle(new PlanExport(run.RunId));

        Assert.That(H.Queue.Sent, Is.Empty);
        Assert.That(H.StageLog.At(LogLevel.Warning), Is.Empty);
    }

    [Test]
    public async Task A_hand_off_lost_after_the_status_change_is_sent_again_by_the_retried_message()
    {
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles()));
        H.Queue.FailNext = new IOException("queue unavailable");

        Assert.That(() => Handle(new PlanExport(run.RunId)), Throws.TypeOf<IOException>(), "not a permanent error: the queue retries the message");
        var stranded = await H.GetRunAsync(run.RunId);
        Assert.That((stranded.Status, stranded.HandedOff), Is.EqualTo((RunStatus.Building, false)));

        await Handle(new PlanExport(run.RunId));

        Assert.That(H.Queue.Sent, Is.EqualTo(new StageMessage[] { new BuildSlice(run.RunId, 0), new BuildSlice(run.RunId, 1) }));
        Assert.That((await H.GetRunAsync(run.RunId)).HandedOff, Is.True);
        Assert.That(H.StageLog.At(LogLevel.Warning), Is.EqualTo(new[] { $"Run {run.RunId} is at Building but its messages were never sent: sending them now" }));
    }

    [Test]
    public async Task A_message_two_stages_behind_does_not_resend_the_current_stage()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(H.Spec(TwoSourceFiles()));
        await H.Store.TryTransitionAsync(run.RunId, 1, RunStatus.Assembling, RunStatus.Uploading, H.Time.GetUtcNow(), None);

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(H.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task Completion_that_stopped_before_deleting_staging_is_finished_by_the_retried_message()
    {
        // The last part's hand-off is never recorded, so the run succeeds with HandedOff still false.
        H.Spy.Before(nameof(IRunStore.MarkHandedOffAsync), args => (RunStatus)args[2]! == RunStatus.Completing ? Task.FromException(new IOException("state store is gone")) : null);
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles()));
        await StageHandOff.SendPendingAsync(H.Store, H.Queue, run, None);
        while (H.Queue.TryTake(out var message))
        {
            try { await Handle(message); }
            catch (IOException) { }
        }
        run = await H.GetRunAsync(run.RunId);
        Assert.That((run.Status, run.HandedOff), Is.EqualTo((RunStatus.Succeeded, false)));
        await H.Staging.WriteAsync(StagingKeys.Chunk(run.ProgressId, 0, 0), new byte[] { 1 }, None);
        var calls = H.Destination.Calls.Count;

        await Handle(new CompleteExport(run.RunId));

        Assert.That(H.StagedFiles(), Is.Empty);
        Assert.That(H.Destination.Calls, Has.Count.EqualTo(calls), "nothing is delivered again");
        Assert.That(H.StageLog.At(LogLevel.Warning), Is.Empty, "a succeeded run has no messages to send");
    }

    [Test]
    public async Task Any_other_message_for_a_succeeded_run_leaves_staging_alone()
    {
        var run = await H.ExportAsync(H.Spec(TwoSourceFiles()));
        await H.Staging.WriteAsync(StagingKeys.Chunk(run.ProgressId, 0, 0), new byte[] { 1 }, None);

        await Handle(new UploadPart(run.RunId, 1, 1));

        Assert.That(H.StagedFiles(), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Deleting_staging_removes_every_attempts_and_nothing_of_other_runs()
    {
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles())) with { Attempt = 3 };
        foreach (var prefix in new[] { run.RunId, run.RunId + "-attempt2", run.RunId + "-attempt3", run.RunId + "-attempt4", "other-run" })
            await H.Staging.WriteAsync(StagingKeys.Chunk(prefix, 0, 0), new byte[] { 1 }, None);

        await H.Stages.DeleteStagingAsync(run, None);

        Assert.That(H.StagedFiles(), Is.EqualTo(new[]
        {
            Path.Combine("other-run", "s00000-c000000.part"),
            Path.Combine(run.RunId + "-attempt4", "s00000-c000000.part"),
        }.Order(StringComparer.Ordinal)));
    }

    [Test]
    public async Task A_stage_records_progress_when_it_starts_unless_it_did_less_than_ten_seconds_ago()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        var planned = (await H.GetRunAsync(run.RunId)).LastProgressAt!.Value;

        H.Time.Advance(TimeSpan.FromSeconds(10));
        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That((await H.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(planned.AddSeconds(10)), "ten seconds after the last record");

        H.Time.Advance(TimeSpan.FromSeconds(9.999));
        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That((await H.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(planned.AddSeconds(10)), "recorded less than ten seconds ago");

        H.Time.Advance(TimeSpan.FromMilliseconds(1));
        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That((await H.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(planned.AddSeconds(20)));
    }

    [Test]
    public async Task A_run_without_recorded_progress_records_it_when_a_stage_starts()
    {
        var run = await H.Store.CreateRunIfAbsentAsync(await H.Scheduler.NewRunAsync("r1", H.Spec(TwoSourceFiles()), RunHarness.Slot, None) with { LastProgressAt = null }, None);
        H.Spy.Before(nameof(IRunStore.SetOnceAsync), _ => Task.FromException(new IOException("state store is gone")));

        Assert.That(() => Handle(new PlanExport(run.RunId)), Throws.TypeOf<IOException>());

        Assert.That((await H.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(H.Time.GetUtcNow()));
    }

    [Test]
    public async Task A_slice_built_again_after_a_crash_is_not_rebuilt_and_the_last_slice_moves_the_run_on()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        await Handle(new BuildSlice(run.RunId, 0));
        var chunks = await H.Store.ListChunksAsync(run.ProgressId, None);

        await Handle(new BuildSlice(run.RunId, 0));
        Assert.That(await H.Store.ListChunksAsync(run.ProgressId, None), Is.EqualTo(chunks), "slice 0 is not built twice");
        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Building), "one of two slices is done");
        Assert.That(H.Queue.Sent, Is.Empty);

        await Handle(new BuildSlice(run.RunId, 1));
        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Assembling));
        Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new AssembleFiles(run.RunId) }));
    }

    [Test]
    public async Task Of_two_stages_moving_a_run_on_only_the_one_that_moved_it_sends_the_next_messages()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        await Handle(new BuildSlice(run.RunId, 0));
        // Another process's copy of the last slice moves the run first.
        H.Spy.Before(nameof(IRunStore.TryTransitionAsync), args => H.Inner.TryTransitionAsync(run.RunId, 1, RunStatus.Building, RunStatus.Assembling, H.Time.GetUtcNow(), None));

        await Handle(new BuildSlice(run.RunId, 1));

        Assert.That(H.Queue.Sent, Is.Empty);
        var moved = await H.GetRunAsync(run.RunId);
        Assert.That((moved.Status, moved.HandedOff), Is.EqualTo((RunStatus.Assembling, false)), "the hand-off is the other process's to record");
    }

    [Test]
    public async Task A_slice_whose_chunks_were_not_all_recorded_fails_the_message_so_it_is_built_again()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        H.Spy.Instead(nameof(IRunStore.RecordChunkAsync), _ => Task.CompletedTask);

        Assert.That(() => Handle(new BuildSlice(run.RunId, 0)),
            Throws.InvalidOperationException.With.Message.EqualTo($"Slice 0 of run {run.RunId} read 1 chunks but 0 are recorded."));
        Assert.That(await H.Store.ListDoneSlicesAsync(run.ProgressId, None), Is.Empty);
    }

    [Test]
    public async Task A_slice_that_finds_its_run_failed_after_building_deletes_what_it_staged()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        H.Spy.Before(nameof(IRunStore.RecordSliceDoneAsync), _ => H.Store.TryMarkFailedAsync(run.RunId, 1, "failed elsewhere", H.Time.GetUtcNow(), None));

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(H.StagedFiles(), Is.Empty);
    }

    [Test]
    public async Task A_slice_that_finds_a_newer_attempt_after_building_deletes_what_it_staged()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        H.Spy.Before(nameof(IRunStore.RecordSliceDoneAsync), async _ =>
        {
            H.Spy.Reset(nameof(IRunStore.RecordSliceDoneAsync));
            await H.Store.TryMarkFailedAsync(run.RunId, 1, "failed elsewhere", H.Time.GetUtcNow(), None);
            var failed = await H.GetRunAsync(run.RunId);
            await H.Scheduler.RetryAsync(failed, failed.Spec, None);
            // The new attempt has staged something of its own: it stays.
            await H.Staging.WriteAsync(StagingKeys.Chunk(ExportRun.ProgressIdFor(run.RunId, 2), 0, 0), new byte[] { 1 }, None);
        });

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(H.StagedFiles(), Is.EqualTo(new[] { Path.Combine(run.RunId + "-attempt2", "s00000-c000000.part") }));
    }

    [Test]
    public async Task A_slice_of_a_live_run_keeps_what_it_staged()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));

        await Handle(new BuildSlice(run.RunId, 0));

        Assert.That(H.StagedFiles(), Has.Length.EqualTo(1));
        Assert.That(H.StagedFiles()[0], Does.StartWith(run.RunId));
    }

    [Test]
    public async Task A_long_build_records_progress_every_ten_seconds_so_the_watchdog_leaves_it_alone()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        var gate = new GatedSourceStore();
        var touched = new TaskCompletionSource<DateTimeOffset>(TaskCreationOptions.RunContinuationsAsynchronously);
        H.Spy.Before(nameof(IRunStore.TouchRunAsync), args =>
        {
            touched.TrySetResult((DateTimeOffset)args[2]!);
            return null;
        });
        var started = H.Time.GetUtcNow();

        var build = H.NewStages(gate).HandleAsync(new BuildSlice(run.RunId, 0), None);
        await gate.Reading.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(touched.Task.IsCompleted, Is.False, "nothing is recorded before ten seconds pass");
        H.Time.Advance(TimeSpan.FromSeconds(10));
        var at = await touched.Task.WaitAsync(TimeSpan.FromSeconds(30));
        gate.Open();
        await build.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(at, Is.EqualTo(started.AddSeconds(10)));
        Assert.That((await H.Store.ListDoneSlicesAsync(run.ProgressId, None)), Is.EqualTo(new[] { 0 }));
    }

    [Test]
    public async Task A_heartbeat_the_store_refuses_fails_the_slice_so_the_queue_retries_it()
    {
        var run = await H.DriveUntilAsync<BuildSlice>(H.Spec(TwoSourceFiles()));
        var gate = new GatedSourceStore();
        H.Spy.Before(nameof(IRunStore.TouchRunAsync), _ => Task.FromException(new IOException("state store is gone")));

        var build = H.NewStages(gate).HandleAsync(new BuildSlice(run.RunId, 0), None);
        await gate.Reading.WaitAsync(TimeSpan.FromSeconds(30));
        H.Time.Advance(TimeSpan.FromSeconds(10));
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
