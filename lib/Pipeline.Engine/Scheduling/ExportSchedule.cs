using Cronos;

namespace Pipeline.Engine.Scheduling;

/// <summary>
/// When an activation runs: a cron expression (or a preset translated to one) evaluated in a time zone,
/// or a single moment. Cronos handles DST: a slot in a skipped hour runs when the clock jumps,
/// a slot in a repeated hour runs once.
/// </summary>
public sealed class ExportSchedule
{
    // Bounds the catch-up scan after a very long downtime; only the latest missed slot runs anyway.
    private static readonly TimeSpan MaxLookBack = TimeSpan.FromDays(400);

    private readonly CronExpression? _cron;
    private readonly DateTimeOffset? _once;

    private ExportSchedule(string description, CronExpression? cron, DateTimeOffset? once, TimeZoneInfo timeZone, DateTimeOffset? startAt)
    {
        Description = description;
        _cron = cron;
        _once = once;
        TimeZone = timeZone;
        StartAt = startAt;
    }

    public string Description { get; }
    public TimeZoneInfo TimeZone { get; }
    /// <summary>Slots before this moment never run. Without it, the first slot is the first after the scheduler first sees the activation.</summary>
    public DateTimeOffset? StartAt { get; }

    public static ExportSchedule FromCron(string expression, TimeZoneInfo timeZone, DateTimeOffset? startAt, string? description = null)
    {
        var fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        var cron = CronExpression.Parse(expression, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        return new ExportSchedule(description ?? $"cron \"{expression}\" ({timeZone.Id})", cron, null, timeZone, startAt);
    }

    public static ExportSchedule FromOnce(DateTimeOffset at, TimeZoneInfo timeZone) =>
        new($"once at {at:yyyy-MM-dd HH:mm zzz}", null, at, timeZone, null);

    /// <summary>
    /// The slot to run now, if any: the latest slot at or before <paramref name="now"/> that is later
    /// than <paramref name="lastScheduledSlot"/>. Missed earlier slots are skipped on purpose:
    /// after downtime a customer wants one fresh export, not a storm of stale ones.
    /// </summary>
    public DateTimeOffset? DueSlot(DateTimeOffset now, DateTimeOffset? lastScheduledSlot)
    {
        if (_once is { } once)
            return once <= now && (lastScheduledSlot is null || lastScheduledSlot < once) ? once : null;

        var from = now - MaxLookBack;
        var fromInclusive = true;
        if (StartAt is { } start && start > from) from = start;
        if (lastScheduledSlot is { } last && last >= from)
        {
            from = last;
            fromInclusive = false;
        }
        if (from > now) return null;

        DateTimeOffset? latest = null;
        foreach (var slot in _cron!.GetOccurrences(from, now, TimeZone, fromInclusive, toInclusive: true))
            latest = slot;
        return latest;
    }

    /// <summary>The next slot strictly after <paramref name="after"/>, for display and for `run` to sleep until.</summary>
    public DateTimeOffset? NextSlot(DateTimeOffset after)
    {
        if (_once is { } once) return once > after ? once : null;
        var from = StartAt is { } start && start > after ? start.AddTicks(-1) : after;
        return _cron!.GetNextOccurrence(from, TimeZone);
    }

    /// <summary>Whether <paramref name="moment"/> is one of the schedule's slots (whatever startAt says: an operator may run any slot).</summary>
    public bool IsSlot(DateTimeOffset moment) =>
        _once is { } once ? once == moment : _cron!.GetNextOccurrence(moment, TimeZone, inclusive: true) == moment;

    /// <summary>The slots just before and just after <paramref name="moment"/>, to name when a requested time is not a slot.</summary>
    public (DateTimeOffset? Before, DateTimeOffset? After) SlotsAround(DateTimeOffset moment)
    {
        if (_once is { } once) return once < moment ? (once, null) : (null, once);
        var after = _cron!.GetNextOccurrence(moment, TimeZone);
        DateTimeOffset? before = null;
        // Widening windows: a frequent cron finds its previous slot without walking a year of occurrences.
        foreach (var window in new[] { TimeSpan.FromDays(1), TimeSpan.FromDays(32), MaxLookBack })
        {
            foreach (var slot in _cron.GetOccurrences(moment - window, moment, TimeZone, fromInclusive: true, toInclusive: false)) before = slot;
            if (before is not null) break;
        }
        return (before, after);
    }

    public override string ToString() => Description;
}
