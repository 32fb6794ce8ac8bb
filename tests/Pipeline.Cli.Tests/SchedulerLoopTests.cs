using Azure;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Azure.Storage;

namespace Pipeline.Cli.Tests;

/// <summary>`pipeline run` without --once keeps scheduling through an outage, and stops on anything else.</summary>
public class SchedulerLoopTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 2, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task A_tick_that_finds_storage_unreachable_is_reported_and_tried_again_a_minute_later()
    {
        var time = new FakeTimeProvider(Start);
        var errors = new StringWriter();
        var ticks = new List<TimeSpan>();
        using var stop = new CancellationTokenSource();
        var loop = SchedulerLoop.RunAsync((n, _) =>
        {
            ticks.Add(time.GetUtcNow() - Start);
            if (n == 1) throw new RequestFailedException(0, "Exception while sending the request.", new HttpRequestException("Connection refused (127.0.0.1:10000)"));
            if (n == 3) stop.Cancel();
            return Task.FromResult(TimeSpan.FromSeconds(30));
        }, StorageOutage.IsStorageOutage, time, errors, stop.Token);

        await RunFakeClockAsync(time, loop);

        Assert.That(async () => await loop, Throws.InstanceOf<OperationCanceledException>(), "only Ctrl+C ends it");
        Assert.That(ticks, Is.EqualTo(new[] { TimeSpan.Zero, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(120) }),
            "30 s after a good tick, a minute after the failed one");
        Assert.That(errors.ToString(), Is.EqualTo(
            "Azure Storage is unreachable (Connection refused (127.0.0.1:10000)): this tick stopped; trying again in 60 s. Finished work is kept." + Environment.NewLine));
    }

    [Test]
    public async Task A_failure_that_is_not_an_outage_ends_the_loop_with_it()
    {
        var time = new FakeTimeProvider(Start);
        var errors = new StringWriter();
        var loop = SchedulerLoop.RunAsync((n, _) =>
            n == 0 ? Task.FromResult(TimeSpan.FromSeconds(5)) : throw new RequestFailedException(403, "This request is not authorized.", "AuthorizationFailure", null),
            StorageOutage.IsStorageOutage, time, errors, CancellationToken.None);

        await RunFakeClockAsync(time, loop);

        var e = await Assert.ThrowsAsync<RequestFailedException>(async () => await loop);
        Assert.That(e!.Status, Is.EqualTo(403));
        Assert.That(errors.ToString(), Is.Empty);
    }

    /// <summary>Moves the fake clock a second at a time until the loop ends (at most a simulated hour).</summary>
    private static async Task RunFakeClockAsync(FakeTimeProvider time, Task loop)
    {
        for (var i = 0; i < 3600 && !loop.IsCompleted; i++)
        {
            await Task.Yield();
            time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.That(loop.IsCompleted, Is.True, "the loop ended within a simulated hour");
    }
}
