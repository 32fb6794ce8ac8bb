using Pipeline.Engine.Scheduling;

namespace Pipeline.Engine.Tests.Scheduling;

public class SchedulePresetsTests
{
    [TestCase("02:00", "0 2 * * *", "daily at 02:00")]
    [TestCase("2:05", "5 2 * * *", "daily at 02:05")]
    [TestCase("00:00", "0 0 * * *", "daily at 00:00")]
    [TestCase(" 23:59 ", "59 23 * * *", "daily at 23:59")]
    public void Daily_accepts_a_time_of_day(string at, string cron, string description)
    {
        Assert.That(SchedulePresets.TryDaily(at, out var c, out var d), Is.True);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(c, Is.EqualTo(cron));
            Assert.That(d, Is.EqualTo(description));
        }
    }

    [TestCase("")]
    [TestCase("24:00")]
    [TestCase("02:60")]
    [TestCase("2:5")]
    [TestCase("02:00:00")]
    [TestCase("2pm")]
    [TestCase("02.00")]
    public void Daily_rejects_anything_else(string at)
    {
        Assert.That(SchedulePresets.TryDaily(at, out _, out _), Is.False);
    }

    [TestCase("1h", "0 * * * *", "every hour")]
    [TestCase("3h", "0 */3 * * *", "every 3 hours")]
    [TestCase("6h", "0 */6 * * *", "every 6 hours")]
    [TestCase("6", "0 */6 * * *", "every 6 hours")]
    [TestCase("8H", "0 */8 * * *", "every 8 hours")]
    [TestCase(" 12h ", "0 */12 * * *", "every 12 hours")]
    public void Every_accepts_intervals_that_divide_the_day(string every, string cron, string description)
    {
        Assert.That(SchedulePresets.TryEvery(every, out var c, out var d), Is.True);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(c, Is.EqualTo(cron));
            Assert.That(d, Is.EqualTo(description));
        }
    }

    [TestCase("5h")]
    [TestCase("2h")]
    [TestCase("0h")]
    [TestCase("24h")]
    [TestCase("-6h")]
    [TestCase("+6h")]
    [TestCase("6 hours")]
    [TestCase("30m")]
    [TestCase("h")]
    [TestCase("")]
    public void Every_rejects_other_intervals(string every)
    {
        Assert.That(SchedulePresets.TryEvery(every, out _, out _), Is.False);
    }

    [Test]
    public void The_allowed_intervals_all_divide_the_day()
    {
        Assert.That(SchedulePresets.AllowedHourIntervals, Is.EqualTo(new[] { 1, 3, 6, 8, 12 }));
        Assert.That(SchedulePresets.AllowedHourIntervals.Select(h => 24 % h), Is.All.EqualTo(0));
    }

    [TestCase("monday 02:00", "0 2 * * 1", "weekly on Monday at 02:00")]
    [TestCase("Mon 2:00", "0 2 * * 1", "weekly on Monday at 02:00")]
    [TestCase("SUNDAY 23:30", "30 23 * * 0", "weekly on Sunday at 23:30")]
    [TestCase("sat 07:05", "5 7 * * 6", "weekly on Saturday at 07:05")]
    [TestCase("thu   12:00", "0 12 * * 4", "weekly on Thursday at 12:00")]
    public void Weekly_accepts_a_day_and_a_time(string text, string cron, string description)
    {
        Assert.That(SchedulePresets.TryWeekly(text, out var c, out var d), Is.True);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(c, Is.EqualTo(cron));
            Assert.That(d, Is.EqualTo(description));
        }
    }

    [TestCase("")]
    [TestCase("monday")]
    [TestCase("02:00")]
    [TestCase("mo 02:00")]
    [TestCase("t 02:00")]
    [TestCase("mondays 02:00")]
    [TestCase("someday 02:00")]
    [TestCase("monday 25:00")]
    [TestCase("monday 02:00 utc")]
    [TestCase("1 02:00")]
    public void Weekly_rejects_anything_else(string text)
    {
        Assert.That(SchedulePresets.TryWeekly(text, out _, out _), Is.False);
    }
}
