using Pipeline.Engine.Scheduling;

namespace Pipeline.Engine.Tests.Scheduling;

/// <summary>
/// Europe/Berlin in 2026: clocks jump from 02:00 CET to 03:00 CEST on 29 March (01:00 UTC)
/// and fall back from 03:00 CEST to 02:00 CET on 25 October (01:00 UTC).
/// </summary>
public class ExportScheduleTests
{
    private static readonly TimeZoneInfo Berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");

    private static DateTimeOffset Utc(int month, int day, int hour, int minute = 0) =>
        new(2026, month, day, hour, minute, 0, TimeSpan.Zero);

    private static ExportSchedule DailyAtTwoInBerlin(DateTimeOffset? startAt = null) =>
        ExportSchedule.FromCron("0 2 * * *", Berlin, startAt);

    /// <summary>Slots after <paramref name="after"/> up to <paramref name="until"/>, by chaining NextSlot.</summary>
    private static List<DateTimeOffset> NextSlots(ExportSchedule schedule, DateTimeOffset after, DateTimeOffset until)
    {
        var slots = new List<DateTimeOffset>();
        while (schedule.NextSlot(after) is { } next && next <= until)
        {
            slots.Add(next);
            after = next;
        }
        return slots;
    }

    /// <summary>What a scheduler polling every few minutes would start, remembering the last slot it scheduled.</summary>
    private static List<DateTimeOffset> PolledSlots(ExportSchedule schedule, DateTimeOffset from, DateTimeOffset until, DateTimeOffset? lastScheduled)
    {
        var slots = new List<DateTimeOffset>();
        for (var now = from; now <= until; now += TimeSpan.FromMinutes(5))
        {
            if (schedule.DueSlot(now, lastScheduled) is not { } due) continue;
            slots.Add(due);
            lastScheduled = due;
        }
        return slots;
    }

    [Test]
    public void Daily_at_two_has_one_slot_a_day_across_the_spring_forward()
    {
        var slots = NextSlots(DailyAtTwoInBerlin(), Utc(3, 27, 12), Utc(3, 31, 12));

        Assert.That(slots, Is.EqualTo(new[]
        {
            Utc(3, 28, 1), // 02:00 CET
            Utc(3, 29, 1), // 02:00 does not exist: runs when the clock jumps to 03:00 CEST
            Utc(3, 30, 0), // 02:00 CEST
            Utc(3, 31, 0),
        }));
    }

    [Test]
    public void Daily_at_two_has_one_slot_a_day_across_the_fall_back()
    {
        var slots = NextSlots(DailyAtTwoInBerlin(), Utc(10, 23, 12), Utc(10, 27, 12));

        Assert.That(slots, Is.EqualTo(new[]
        {
            Utc(10, 24, 0), // 02:00 CEST
            Utc(10, 25, 0), // 02:00 happens twice; only the first (CEST) runs
            Utc(10, 26, 1), // 02:00 CET
            Utc(10, 27, 1),
        }));
    }

    [Test]
    public void Polling_DueSlot_runs_each_day_once_across_the_spring_forward()
    {
        var slots = PolledSlots(DailyAtTwoInBerlin(), Utc(3, 27, 12), Utc(3, 31, 12), lastScheduled: Utc(3, 27, 1));

        Assert.That(slots, Is.EqualTo(new[] { Utc(3, 28, 1), Utc(3, 29, 1), Utc(3, 30, 0), Utc(3, 31, 0) }));
    }

    [Test]
    public void Polling_DueSlot_runs_each_day_once_across_the_fall_back()
    {
        var slots = PolledSlots(DailyAtTwoInBerlin(), Utc(10, 23, 12), Utc(10, 27, 12), lastScheduled: Utc(10, 23, 0));

        Assert.That(slots, Is.EqualTo(new[] { Utc(10, 24, 0), Utc(10, 25, 0), Utc(10, 26, 1), Utc(10, 27, 1) }));
    }

    [Test]
    public void A_cron_slot_inside_the_skipped_hour_runs_once_at_the_jump()
    {
        var schedule = ExportSchedule.FromCron("30 2 * * *", Berlin, startAt: null);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(schedule.NextSlot(Utc(3, 28, 12)), Is.EqualTo(Utc(3, 29, 1)));
            Assert.That(schedule.NextSlot(Utc(3, 29, 1)), Is.EqualTo(Utc(3, 30, 0, 30)));
            Assert.That(PolledSlots(schedule, Utc(3, 28, 12), Utc(3, 29, 12), lastScheduled: Utc(3, 28, 1, 30)), Is.EqualTo(new[] { Utc(3, 29, 1) }));
        }
    }

    [Test]
    public void A_cron_slot_inside_the_repeated_hour_runs_once()
    {
        var schedule = ExportSchedule.FromCron("30 2 * * *", Berlin, startAt: null);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(schedule.NextSlot(Utc(10, 24, 12)), Is.EqualTo(Utc(10, 25, 0, 30)));
            Assert.That(schedule.NextSlot(Utc(10, 25, 0, 30)), Is.EqualTo(Utc(10, 26, 1, 30)));
            Assert.That(PolledSlots(schedule, Utc(10, 24, 12), Utc(10, 25, 12), lastScheduled: Utc(10, 24, 0, 30)), Is.EqualTo(new[] { Utc(10, 25, 0, 30) }));
        }
    }

    [Test]
    public void An_hourly_schedule_has_23_slots_on_the_short_day_and_25_on_the_long_one()
    {
        var hourly = ExportSchedule.FromCron("0 * * * *", Berlin, startAt: null);

        using (Assert.EnterMultipleScope())
        {
            // Local midnight to midnight: 28 Mar 23:00 UTC to 29 Mar 22:00 UTC, and 24 Oct 22:00 UTC to 25 Oct 23:00 UTC.
            Assert.That(NextSlots(hourly, Utc(3, 28, 23), Utc(3, 29, 22)), Has.Count.EqualTo(23));
            Assert.That(NextSlots(hourly, Utc(10, 24, 22), Utc(10, 25, 23)), Has.Count.EqualTo(25));
        }
    }

    [Test]
    public void After_days_of_downtime_only_the_latest_missed_slot_is_due()
    {
        var due = DailyAtTwoInBerlin().DueSlot(now: Utc(4, 2, 12), lastScheduledSlot: Utc(3, 27, 1));

        Assert.That(due, Is.EqualTo(Utc(4, 2, 0)));
    }

    [Test]
    public void The_first_check_without_history_finds_the_latest_past_slot()
    {
        Assert.That(DailyAtTwoInBerlin().DueSlot(now: Utc(11, 20, 9, 15), lastScheduledSlot: null), Is.EqualTo(Utc(11, 20, 1)));
    }

    [Test]
    public void Nothing_is_due_when_the_latest_slot_was_already_scheduled()
    {
        var schedule = DailyAtTwoInBerlin();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(schedule.DueSlot(now: Utc(11, 20, 9), lastScheduledSlot: Utc(11, 20, 1)), Is.Null);
            Assert.That(schedule.DueSlot(now: Utc(11, 20, 1), lastScheduledSlot: Utc(11, 20, 1)), Is.Null);
            Assert.That(schedule.DueSlot(now: Utc(11, 21, 0, 59), lastScheduledSlot: Utc(11, 20, 1)), Is.Null);
            Assert.That(schedule.DueSlot(now: Utc(11, 21, 1), lastScheduledSlot: Utc(11, 20, 1)), Is.EqualTo(Utc(11, 21, 1)));
        }
    }

    [Test]
    public void A_slot_is_due_exactly_at_its_time_not_before()
    {
        var schedule = DailyAtTwoInBerlin();
        var last = Utc(11, 19, 1);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(schedule.DueSlot(Utc(11, 20, 1).AddTicks(-1), last), Is.Null);
            Assert.That(schedule.DueSlot(Utc(11, 20, 1), last), Is.EqualTo(Utc(11, 20, 1)));
        }
    }

    [Test]
    public void Slots_before_StartAt_never_run()
    {
        var schedule = DailyAtTwoInBerlin(startAt: Utc(11, 16, 0));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(schedule.StartAt, Is.EqualTo(Utc(11, 16, 0)));
            Assert.That(schedule.DueSlot(now: Utc(11, 15, 12), lastScheduledSlot: null), Is.Null);
            Assert.That(schedule.DueSlot(now: Utc(11, 16, 0, 59), lastScheduledSlot: null), Is.Null);
            Assert.That(schedule.DueSlot(now: Utc(11, 16, 1, 30), lastScheduledSlot: null), Is.EqualTo(Utc(11, 16, 1)));
            Assert.That(schedule.NextSlot(Utc(11, 1, 0)), Is.EqualTo(Utc(11, 16, 1)));
        }
    }

    [Test]
    public void A_slot_exactly_at_StartAt_runs()
    {
        var schedule = DailyAtTwoInBerlin(startAt: Utc(11, 16, 1));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(schedule.DueSlot(now: Utc(11, 16, 1), lastScheduledSlot: null), Is.EqualTo(Utc(11, 16, 1)));
            Assert.That(schedule.NextSlot(Utc(11, 1, 0)), Is.EqualTo(Utc(11, 16, 1)));
        }
    }

    [Test]
    public void A_last_slot_before_StartAt_does_not_pull_earlier_slots_in()
    {
        var schedule = DailyAtTwoInBerlin(startAt: Utc(11, 16, 0));

        Assert.That(schedule.DueSlot(now: Utc(11, 18, 12), lastScheduledSlot: Utc(11, 10, 1)), Is.EqualTo(Utc(11, 18, 1)));
    }

    [Test]
    public void A_once_schedule_is_due_once_at_its_moment()
    {
        var at = Utc(12, 1, 1);
        var once = ExportSchedule.FromOnce(at, Berlin);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(once.DueSlot(at.AddTicks(-1), lastScheduledSlot: null), Is.Null);
            Assert.That(once.DueSlot(at, lastScheduledSlot: null), Is.EqualTo(at));
            Assert.That(once.DueSlot(at.AddHours(23), lastScheduledSlot: null), Is.EqualTo(at));
            Assert.That(once.DueSlot(at.AddHours(23), lastScheduledSlot: at), Is.Null);
            Assert.That(once.NextSlot(at.AddTicks(-1)), Is.EqualTo(at));
            Assert.That(once.NextSlot(at), Is.Null);
            Assert.That(once.StartAt, Is.Null);
            Assert.That(once.Description, Is.EqualTo("once at 2026-12-01 02:00 Europe/Berlin (2026-12-01 01:00 UTC)"));
        }
    }

    [Test]
    public void A_once_more_than_a_day_in_the_past_never_runs_and_says_so()
    {
        var once = ExportSchedule.FromOnce(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), TimeZoneInfo.Utc);
        var now = Utc(12, 4, 2);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(once.DueSlot(now, lastScheduledSlot: null), Is.Null);
            Assert.That(once.IsExpiredOnce(now), Is.True);
            Assert.That(once.IsExpiredOnce(new DateTimeOffset(2020, 1, 1, 23, 0, 0, TimeSpan.Zero)), Is.False);
            Assert.That(DailyAtTwoInBerlin().IsExpiredOnce(now), Is.False);
        }
    }

    [Test]
    public void A_slot_is_shown_in_its_zone_and_in_utc()
    {
        var slot = DailyAtTwoInBerlin().NextSlot(Utc(12, 3, 12))!.Value;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(slot, Is.EqualTo(Utc(12, 4, 1)));
            Assert.That(DailyAtTwoInBerlin().FormatSlot(slot), Is.EqualTo("2026-12-04 02:00 Europe/Berlin (2026-12-04 01:00 UTC)"));
            Assert.That(ExportSchedule.FromCron("0 2 * * *", TimeZoneInfo.Utc, null).FormatSlot(Utc(12, 4, 2)), Is.EqualTo("2026-12-04 02:00 UTC"));
        }
    }

    [Test]
    public void A_six_field_cron_expression_includes_seconds()
    {
        var schedule = ExportSchedule.FromCron("30 0 2 * * *", TimeZoneInfo.Utc, startAt: null);

        Assert.That(schedule.NextSlot(Utc(11, 20, 0)), Is.EqualTo(Utc(11, 20, 2).AddSeconds(30)));
    }

    [Test]
    public void The_description_names_the_expression_and_the_zone()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(DailyAtTwoInBerlin().ToString(), Is.EqualTo("cron \"0 2 * * *\" (Europe/Berlin)"));
            Assert.That(ExportSchedule.FromCron("0 2 * * *", Berlin, null, "daily at 02:00 (Europe/Berlin)").ToString(), Is.EqualTo("daily at 02:00 (Europe/Berlin)"));
        }
    }

    [Test]
    public void An_invalid_cron_expression_throws()
    {
        Assert.That(() => ExportSchedule.FromCron("61 2 * * *", Berlin, startAt: null), Throws.InstanceOf<Cronos.CronFormatException>());
    }
}
