using Pipeline.Engine.Scheduling;

namespace Pipeline.Engine.Tests.Scheduling;

/// <summary>What `run --slot` relies on: whether a time is a slot, and the slots around one that isn't.</summary>
public class SlotLookupTests
{
    private static readonly TimeZoneInfo Berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");

    [Test]
    public void A_daily_slot_in_its_time_zone_is_a_slot_and_half_an_hour_later_is_not()
    {
        var schedule = ExportSchedule.FromCron("0 2 * * *", Berlin, null);

        Assert.That(schedule.IsSlot(new DateTimeOffset(2026, 11, 23, 1, 0, 0, TimeSpan.Zero)), Is.True);
        Assert.That(schedule.IsSlot(new DateTimeOffset(2026, 11, 23, 1, 30, 0, TimeSpan.Zero)), Is.False);
        Assert.That(schedule.IsSlot(new DateTimeOffset(2026, 11, 23, 2, 0, 0, TimeSpan.Zero)), Is.False, "02:00 UTC is 03:00 in Berlin");
    }

    [Test]
    public void The_slots_around_a_time_are_the_previous_and_the_next()
    {
        var schedule = ExportSchedule.FromCron("0 2 * * *", Berlin, null);

        var (before, after) = schedule.SlotsAround(new DateTimeOffset(2026, 11, 23, 1, 30, 0, TimeSpan.Zero));

        Assert.That(before, Is.EqualTo(new DateTimeOffset(2026, 11, 23, 1, 0, 0, TimeSpan.Zero)));
        Assert.That(after, Is.EqualTo(new DateTimeOffset(2026, 11, 24, 1, 0, 0, TimeSpan.Zero)));
    }

    [Test]
    public void A_monthly_schedule_finds_a_previous_slot_weeks_back()
    {
        var schedule = ExportSchedule.FromCron("0 0 1 * *", TimeZoneInfo.Utc, null);

        var (before, _) = schedule.SlotsAround(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));

        Assert.That(before, Is.EqualTo(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)));
    }

    [Test]
    public void A_once_schedule_has_exactly_one_slot()
    {
        var at = new DateTimeOffset(2026, 12, 1, 2, 0, 0, TimeSpan.Zero);
        var schedule = ExportSchedule.FromOnce(at, TimeZoneInfo.Utc);

        Assert.That(schedule.IsSlot(at), Is.True);
        Assert.That(schedule.IsSlot(at.AddMinutes(1)), Is.False);
        Assert.That(schedule.SlotsAround(at.AddDays(1)), Is.EqualTo(((DateTimeOffset?)at, (DateTimeOffset?)null)));
    }
}
