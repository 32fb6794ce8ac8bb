using Microsoft.Extensions.Time.Testing;
using Pipeline.Azure.Storage;

namespace Pipeline.Azure.Tests.Storage;

/// <summary>How long the CLI's driver waits out a storage outage, and when it gives up.</summary>
public class OutageClockTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 2, 0, 0, TimeSpan.Zero));

    [Test]
    public void Waits_grow_with_the_outage_from_1_to_15_seconds_and_it_gives_up_at_the_limit()
    {
        var clock = new OutageClock(Limit, _time);
        var waits = new List<TimeSpan>();
        // Each call fails after its own 15 s of retries, then the clock's wait.
        while (clock.Failed() is { } wait)
        {
            waits.Add(wait);
            _time.Advance(wait + TimeSpan.FromSeconds(15));
        }

        Assert.That(waits.Take(4).Select(w => w.TotalSeconds), Is.EqualTo(new[] { 1, 8, 15, 15 }));
        Assert.That(waits.Max(), Is.EqualTo(TimeSpan.FromSeconds(15)));
        Assert.That(clock.Unreachable, Is.GreaterThanOrEqualTo(Limit).And.LessThan(Limit + TimeSpan.FromSeconds(30)), "it gives up at the first failure past the limit");
    }

    [Test]
    public void An_answer_in_between_starts_a_new_outage()
    {
        var clock = new OutageClock(Limit, _time);
        Assert.That(clock.Failed(), Is.Not.Null);
        _time.Advance(TimeSpan.FromMinutes(3));
        Assert.That(clock.Failed(), Is.Not.Null);
        Assert.That(clock.Unreachable, Is.EqualTo(TimeSpan.FromMinutes(3)), "no answer came in between: one outage");

        clock.Reachable();
        _time.Advance(TimeSpan.FromMinutes(3));

        Assert.That(clock.Failed(), Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(clock.Unreachable, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public void Failures_further_apart_than_a_wait_and_a_calls_own_retries_are_separate_outages()
    {
        var clock = new OutageClock(Limit, _time);
        var first = clock.Failed()!.Value;

        _time.Advance(first + OutageClock.OneCallGivesUpWithin + TimeSpan.FromSeconds(1));

        Assert.That(clock.Failed(), Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(clock.Unreachable, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public void A_zero_limit_gives_up_at_the_first_failure()
    {
        Assert.That(new OutageClock(TimeSpan.Zero, _time).Failed(), Is.Null);
    }
}
