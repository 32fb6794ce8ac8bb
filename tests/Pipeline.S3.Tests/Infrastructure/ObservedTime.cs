using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>
/// Fake time that tells the test when the code under test starts waiting: every timer created with a due time is
/// reported, so a test advances time exactly when something waits on it, instead of polling or guessing.
/// </summary>
internal sealed class ObservedTime(FakeTimeProvider fake) : TimeProvider
{
    /// <summary>Bounds a wait for something that should happen at once, so a broken test fails instead of hanging.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public ObservedTime() : this(new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero)))
    {
    }

    public FakeTimeProvider Fake => fake;

    public override DateTimeOffset GetUtcNow() => fake.GetUtcNow();

    public override long GetTimestamp() => fake.GetTimestamp();

    public override long TimestampFrequency => fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => fake.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ObservedTimer(fake.CreateTimer(callback, state, dueTime, period), this);
        Started(dueTime);
        return timer;
    }

    private void Started(TimeSpan dueTime)
    {
        if (dueTime != Timeout.InfiniteTimeSpan) _timers.Writer.TryWrite(dueTime);
    }

    /// <summary>Reports a timer that is armed later too (CancelAfter creates it disarmed, then changes it).</summary>
    private sealed class ObservedTimer(ITimer timer, ObservedTime time) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = timer.Change(dueTime, period);
            time.Started(dueTime);
            return changed;
        }

        public void Dispose() => timer.Dispose();

        public ValueTask DisposeAsync() => timer.DisposeAsync();
    }

    /// <summary>The due time of the next timer created that is due within <paramref name="atMost"/> (others, such as attempt timeouts, are skipped).</summary>
    public async Task<TimeSpan> NextTimerAsync(TimeSpan atMost)
    {
        using var bound = new CancellationTokenSource(Bound);
        try
        {
            while (true)
            {
                var due = await _timers.Reader.ReadAsync(bound.Token);
                if (due <= atMost) return due;
            }
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            throw new AssertionException($"Nothing started waiting for at most {atMost} within {Bound} of real time.");
        }
    }
}
