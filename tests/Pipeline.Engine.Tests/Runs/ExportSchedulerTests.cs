using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Scheduling;

namespace Pipeline.Engine.Tests.Runs;

public class ExportSchedulerTests : RunHarnessFixture
{
    /// <summary>Daily at 02:00 UTC; the harness clock stands 30 seconds after the 2026-12-07 slot.</summary>
    private SegmentActivation Daily(Func<ExportSpec, ExportSpec>? change = null, bool enabled = true, RetryPolicy? retry = null) =>
        new("vip", enabled, H.Spec("/data/profiles.csv", change), ExportSchedule.FromCron("0 2 * * *", TimeZoneInfo.Utc, RunHarness.Slot.AddDays(-30)))
        {
            Retry = retry ?? RetryPolicy.Default,
        };

    private Task<IReadOnlyList<ExportRun>> Tick(params SegmentActivation[] activations) => H.Scheduler.TickAsync(activations, None);

    [Test]
    public async Task A_due_slot_gets_its_run_and_its_PlanExport_and_the_schedule_moves_to_it()
    {
        var started = await Tick(Daily());

        var run = started.Single();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(run.RunId, Is.EqualTo(RunIds.ForSlot("vip", RunHarness.Slot)));
            Assert.That(run.Slot, Is.EqualTo(RunHarness.Slot));
            Assert.That(run.Slot.Offset, Is.EqualTo(TimeSpan.Zero));
            Assert.That(run.ActivationId, Is.EqualTo("vip"));
            Assert.That(run.CreatedAt, Is.EqualTo(H.Time.GetUtcNow()));
            Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new PlanExport(run.RunId) }));
            Assert.That(await H.Store.GetLastScheduledSlotAsync("vip", None), Is.EqualTo(RunHarness.Slot));
            var stored = await H.GetRunAsync(run.RunId);
            Assert.That((stored.Status, stored.HandedOff), Is.EqualTo((RunStatus.Planning, true)));
            Assert.That(H.SchedulerLog.At(LogLevel.Information), Is.EqualTo(new[] { $"Scheduled run {run.RunId} for vip, slot 2026-12-07 02:00:00Z" }));
        }
    }

    [Test]
    public async Task A_slot_in_another_zone_is_stored_in_utc()
    {
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        var activation = Daily() with { Schedule = ExportSchedule.FromCron("0 3 * * *", berlin, RunHarness.Slot.AddDays(-30)) };

        var run = (await Tick(activation)).Single();

        Assert.That(run.Slot, Is.EqualTo(RunHarness.Slot));
        Assert.That(run.Slot.Offset, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public async Task A_disabled_activation_is_not_scheduled()
    {
        Assert.That(await Tick(Daily(enabled: false)), Is.Empty);
        Assert.That(H.Queue.Sent, Is.Empty);
        Assert.That(await H.Store.GetLastScheduledSlotAsync("vip", None), Is.Null);
    }

    [Test]
    public async Task A_slot_is_scheduled_once_however_often_the_scheduler_ticks()
    {
        await Tick(Daily());
        H.Queue.Clear();

        Assert.That(await Tick(Daily()), Is.Empty);
        Assert.That(H.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task A_scheduler_that_loses_the_race_for_a_slot_sends_nothing()
    {
        H.Spy.Instead(nameof(IRunStore.TryScheduleRunAsync), _ => Task.FromResult(false));

        Assert.That(await Tick(Daily()), Is.Empty);

        Assert.That(H.Queue.Sent, Is.Empty);
        Assert.That(H.SchedulerLog.At(LogLevel.Debug), Is.EqualTo(new[] { "Another scheduler already took vip slot 2026-12-07 02:00:00Z" }));
    }

    [Test]
    public async Task A_run_whose_PlanExport_was_never_sent_gets_it_on_the_next_tick()
    {
        H.Queue.FailNext = new IOException("queue unavailable");
        Assert.That(() => Tick(Daily()), Throws.TypeOf<IOException>());
        var runId = RunIds.ForSlot("vip", RunHarness.Slot);

        var revived = await Tick(Daily());

        Assert.That(revived.Select(r => r.RunId), Is.EqualTo(new[] { runId }));
        Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new PlanExport(runId) }));
        Assert.That((await H.GetRunAsync(runId)).HandedOff, Is.True);
        Assert.That(H.SchedulerLog.At(LogLevel.Warning), Is.EqualTo(new[] { $"Run {runId} is at Planning but its messages were never sent: sending them now" }));
    }

    [Test]
    public async Task A_run_at_a_later_stage_is_not_revived_by_the_scheduler()
    {
        var run = (await Tick(Daily())).Single();
        await H.Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Building, H.Time.GetUtcNow(), None);
        H.Queue.Clear();

        Assert.That(await Tick(Daily()), Is.Empty, "the watchdog re-drives stages; the scheduler only sends a run's first message");
        Assert.That(H.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task A_latest_slot_without_a_run_is_left_alone()
    {
        await H.Store.TryScheduleRunAsync((await H.Scheduler.NewRunAsync("other-id", Daily().Spec, RunHarness.Slot, None)), null, None);

        Assert.That(await Tick(Daily()), Is.Empty);
    }

    /// <summary>The slot's run, failed at <paramref name="failedAt"/> after <paramref name="attempt"/> attempts.</summary>
    private async Task<ExportRun> FailedRun(DateTimeOffset failedAt, int attempt = 1)
    {
        var run = (await Tick(Daily())).Single();
        for (var n = 2; n <= attempt; n++)
        {
            await H.Store.TryMarkFailedAsync(run.RunId, n - 1, "boom", failedAt, None);
            run = (await H.Scheduler.RetryAsync(await H.GetRunAsync(run.RunId), run.Spec, None))!;
        }
        await H.Store.TryMarkFailedAsync(run.RunId, attempt, "boom", failedAt, None);
        H.Queue.Clear();
        return await H.GetRunAsync(run.RunId);
    }

    [Test]
    public async Task A_failed_run_is_retried_by_the_tick_once_its_backoff_has_passed_and_not_before()
    {
        var failed = await FailedRun(H.Time.GetUtcNow());

        H.Time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(1));
        Assert.That(await Tick(Daily()), Is.Empty);

        H.Time.Advance(TimeSpan.FromTicks(1));
        var retried = (await Tick(Daily())).Single();

        Assert.That((retried.RunId, retried.Attempt, retried.Status), Is.EqualTo((failed.RunId, 2, RunStatus.Planning)));
        Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new PlanExport(failed.RunId) { Attempt = 2 } }));
    }

    [Test]
    public async Task The_backoff_doubles_with_each_attempt()
    {
        var failed = await FailedRun(H.Time.GetUtcNow(), attempt: 2);

        H.Time.Advance(TimeSpan.FromMinutes(20) - TimeSpan.FromTicks(1));
        Assert.That(await Tick(Daily()), Is.Empty);
        H.Time.Advance(TimeSpan.FromTicks(1));

        Assert.That((await Tick(Daily())).Single().Attempt, Is.EqualTo(3));
        Assert.That(failed.Attempt, Is.EqualTo(2));
    }

    [Test]
    public async Task A_failed_run_is_not_retried_once_its_attempts_are_used_up()
    {
        await FailedRun(H.Time.GetUtcNow(), attempt: 2);
        H.Time.Advance(TimeSpan.FromDays(1) - TimeSpan.FromMinutes(1));

        Assert.That(await Tick(Daily(retry: new RetryPolicy(1, TimeSpan.FromMinutes(10)))), Is.Empty);
        Assert.That(await Tick(Daily(retry: new RetryPolicy(2, TimeSpan.FromMinutes(10)))), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_succeeded_run_is_not_retried()
    {
        var run = (await Tick(Daily())).Single();
        await H.Store.MarkSucceededAsync(run.RunId, 1, "m", H.Time.GetUtcNow(), None);
        H.Time.Advance(TimeSpan.FromHours(1));

        Assert.That(await Tick(Daily()), Is.Empty);
    }

    [Test]
    public async Task A_retry_starts_the_next_attempt_with_the_current_spec_and_a_clean_slate()
    {
        var failed = await FailedRun(H.Time.GetUtcNow());
        H.Time.Advance(TimeSpan.FromMinutes(3));
        var fixedSpec = failed.Spec with { SegmentId = "S2" };

        var next = await H.Scheduler.RetryAsync(failed, fixedSpec, None);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(next, Is.Not.Null);
            Assert.That(next!.Spec, Is.EqualTo(fixedSpec));
            Assert.That((next.RunId, next.Slot, next.CreatedAt), Is.EqualTo((failed.RunId, failed.Slot, failed.CreatedAt)));
            Assert.That((next.Attempt, next.Status, next.Error, next.CompletedAt, next.ManifestKey, next.HandedOff), Is.EqualTo((2, RunStatus.Planning, (string?)null, (DateTimeOffset?)null, (string?)null, false)));
            Assert.That(next.LastProgressAt, Is.EqualTo(H.Time.GetUtcNow()));
            var stored = await H.GetRunAsync(failed.RunId);
            Assert.That((stored.Attempt, stored.Status, stored.Spec.SegmentId, stored.HandedOff), Is.EqualTo((2, RunStatus.Planning, "S2", true)));
            Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new PlanExport(failed.RunId) { Attempt = 2 } }));
            Assert.That(H.SchedulerLog.At(LogLevel.Information).Last(), Is.EqualTo($"Retrying run {failed.RunId} (attempt 2) after: boom"));
        }
    }

    [Test]
    public async Task A_retry_of_a_failure_without_a_message_logs_an_empty_reason()
    {
        var failed = await FailedRun(H.Time.GetUtcNow());

        await H.Scheduler.RetryAsync(failed with { Error = null }, failed.Spec, None);

        Assert.That(H.SchedulerLog.At(LogLevel.Information).Last(), Is.EqualTo($"Retrying run {failed.RunId} (attempt 2) after: "));
    }

    [Test]
    public async Task Only_one_of_two_retries_of_the_same_failure_starts_an_attempt()
    {
        var failed = await FailedRun(H.Time.GetUtcNow());

        var first = await H.Scheduler.RetryAsync(failed, failed.Spec, None);
        var second = await H.Scheduler.RetryAsync(failed, failed.Spec, None);

        Assert.That(first, Is.Not.Null);
        Assert.That(second, Is.Null);
        Assert.That(H.Queue.Sent, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_run_that_did_not_fail_is_not_retried()
    {
        var run = (await Tick(Daily())).Single();
        H.Queue.Clear();

        Assert.That(await H.Scheduler.RetryAsync(run, run.Spec, None), Is.Null);
        Assert.That(H.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task A_once_schedule_long_past_is_reported_once_per_process()
    {
        var once = Daily() with { Schedule = ExportSchedule.FromOnce(RunHarness.Slot.AddDays(-2), TimeZoneInfo.Utc) };

        Assert.That(await Tick(once), Is.Empty);
        Assert.That(await Tick(once), Is.Empty);

        Assert.That(H.SchedulerLog.At(LogLevel.Warning), Is.EqualTo(new[]
        {
            "Activation vip is skipped: its \"once\" slot 2026-12-05 02:00 UTC is more than 24 hours in the past. Set a future time, or export now with `pipeline export`.",
        }));
    }

    [Test]
    public async Task A_once_schedule_that_already_ran_is_not_reported()
    {
        var once = Daily() with { Schedule = ExportSchedule.FromOnce(RunHarness.Slot, TimeZoneInfo.Utc) };
        Assert.That(await Tick(once), Has.Count.EqualTo(1));
        H.Time.Advance(TimeSpan.FromDays(2));

        Assert.That(await Tick(once), Is.Empty);
        Assert.That(H.SchedulerLog.At(LogLevel.Warning), Is.Empty);
    }

    [Test]
    public async Task A_recurring_schedule_with_nothing_due_is_not_reported()
    {
        var later = Daily() with { Schedule = ExportSchedule.FromCron("0 2 * * *", TimeZoneInfo.Utc, RunHarness.Slot.AddDays(1)) };

        Assert.That(await Tick(later), Is.Empty);
        Assert.That(H.SchedulerLog.Lines, Is.Empty);
    }

    [Test]
    public async Task Running_a_slot_now_creates_its_run_and_sends_its_PlanExport_without_moving_the_schedule()
    {
        var slot = RunHarness.Slot.AddDays(-3).ToOffset(TimeSpan.FromHours(1));

        var run = await H.Scheduler.StartSlotAsync(Daily(), slot, None);

        Assert.That((run.RunId, run.Slot, run.Slot.Offset), Is.EqualTo((RunIds.ForSlot("vip", slot), slot, TimeSpan.Zero)));
        Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new PlanExport(run.RunId) }));
        Assert.That((await H.GetRunAsync(run.RunId)).HandedOff, Is.True);
        Assert.That(await H.Store.GetLastScheduledSlotAsync("vip", None), Is.Null);
        Assert.That(H.SchedulerLog.At(LogLevel.Information), Is.EqualTo(new[] { $"Scheduled run {run.RunId} for vip, slot 2026-12-04 02:00:00Z" }));
    }

    [Test]
    public async Task Running_a_slot_whose_run_exists_returns_it_as_it_is()
    {
        var existing = (await Tick(Daily())).Single();
        H.Queue.Clear();

        var run = await H.Scheduler.StartSlotAsync(Daily(), RunHarness.Slot, None);

        Assert.That((run.RunId, run.Attempt, run.Status), Is.EqualTo((existing.RunId, 1, RunStatus.Planning)));
        Assert.That(H.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task Running_a_slot_that_another_process_started_meanwhile_does_not_send_it_again()
    {
        H.Spy.Before(nameof(IRunStore.CreateRunIfAbsentAsync), async args =>
        {
            var run = (ExportRun)args[0]!;
            await H.Inner.CreateRunIfAbsentAsync(run, None);
            await H.Inner.MarkHandedOffAsync(run.RunId, 1, RunStatus.Planning, None);
        });

        var started = await H.Scheduler.StartSlotAsync(Daily(), RunHarness.Slot, None);

        Assert.That((started.RunId, started.HandedOff), Is.EqualTo((RunIds.ForSlot("vip", RunHarness.Slot), true)));
        Assert.That(H.Queue.Sent, Is.Empty);
        Assert.That(H.SchedulerLog.Lines, Is.Empty);
    }

    [Test]
    public async Task Running_a_slot_whose_run_failed_retries_it_at_once()
    {
        var failed = await FailedRun(H.Time.GetUtcNow());

        var run = await H.Scheduler.StartSlotAsync(Daily(), RunHarness.Slot, None);

        Assert.That((run.RunId, run.Attempt, run.Status), Is.EqualTo((failed.RunId, 2, RunStatus.Planning)));
        Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new PlanExport(failed.RunId) { Attempt = 2 } }));
    }

    [Test]
    public async Task Running_a_failed_slot_that_another_process_retried_meanwhile_returns_that_attempt()
    {
        var failed = await FailedRun(H.Time.GetUtcNow());
        H.Spy.Before(nameof(IRunStore.TryRestartRunAsync), async args =>
        {
            H.Spy.Reset(nameof(IRunStore.TryRestartRunAsync));
            await H.Inner.TryRestartRunAsync((ExportRun)args[0]!, None);
        });

        var run = await H.Scheduler.StartSlotAsync(Daily(), RunHarness.Slot, None);

        Assert.That((run.RunId, run.Attempt, run.Status), Is.EqualTo((failed.RunId, 2, RunStatus.Planning)));
        Assert.That(H.Queue.Sent, Is.Empty, "the other process sends its PlanExport");
    }

    [Test]
    public async Task A_full_run_has_no_window_and_an_incremental_one_reads_from_the_last_watermark_to_its_slot()
    {
        var full = await H.Scheduler.NewRunAsync("r1", Daily().Spec, RunHarness.Slot, None);
        Assert.That((full.WatermarkFrom, full.WatermarkTo), Is.EqualTo(((DateTimeOffset?)null, (DateTimeOffset?)null)));
        Assert.That((full.CreatedAt, full.LastProgressAt, full.Attempt, full.Status), Is.EqualTo((H.Time.GetUtcNow(), (DateTimeOffset?)H.Time.GetUtcNow(), 1, RunStatus.Planning)));

        var incremental = Daily(s => s with { Mode = ExportMode.Incremental }).Spec;
        var first = await H.Scheduler.NewRunAsync("r2", incremental, RunHarness.Slot, None);
        Assert.That((first.WatermarkFrom, first.WatermarkTo), Is.EqualTo(((DateTimeOffset?)null, (DateTimeOffset?)RunHarness.Slot)), "the first incremental run is a full backfill");

        await H.Store.CreateRunIfAbsentAsync(first, None);
        await H.Store.MarkSucceededAsync("r2", 1, "m", H.Time.GetUtcNow(), None);
        var second = await H.Scheduler.NewRunAsync("r3", incremental, RunHarness.Slot.AddDays(1), None);
        Assert.That((second.WatermarkFrom, second.WatermarkTo), Is.EqualTo(((DateTimeOffset?)RunHarness.Slot, (DateTimeOffset?)RunHarness.Slot.AddDays(1))));
        Assert.That((second.RunId, second.ActivationId, second.Slot, second.Spec), Is.EqualTo(("r3", "vip", RunHarness.Slot.AddDays(1), incremental)));
    }
}
