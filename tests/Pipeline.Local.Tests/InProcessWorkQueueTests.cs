using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

public class InProcessWorkQueueTests
{
    // A hung drain must fail the test, not hang the suite.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_message_that_keeps_failing_is_retried_then_poisoned_once()
    {
        var queue = new InProcessWorkQueue();
        await queue.EnqueueAsync([new PlanExport("r1"), new PlanExport("r2")], CancellationToken.None);
        var attempts = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var poisoned = new System.Collections.Concurrent.ConcurrentBag<string>();

        await queue.DrainAsync((m, _) =>
        {
            attempts.AddOrUpdate(m.RunId, 1, (_, a) => a + 1);
            return m.RunId == "r1" ? throw new InvalidOperationException("boom") : Task.CompletedTask;
        }, (m, _) => { poisoned.Add(m.RunId); return Task.CompletedTask; }, 2, CancellationToken.None).WaitAsync(Bound);

        Assert.That(attempts["r1"], Is.EqualTo(InProcessWorkQueue.MaxAttempts));
        Assert.That(attempts["r2"], Is.EqualTo(1));
        Assert.That(poisoned, Is.EqualTo(new[] { "r1" }));
    }

    [TestCase(1)]
    [TestCase(3)]
    public async Task A_poison_handler_that_throws_ends_the_drain_with_its_error_instead_of_hanging(int concurrency)
    {
        var queue = new InProcessWorkQueue();
        await queue.EnqueueAsync([new PlanExport("r1"), new PlanExport("r2")], CancellationToken.None);
        var handled = new System.Collections.Concurrent.ConcurrentBag<string>();

        var drain = queue.DrainAsync((m, _) =>
        {
            handled.Add(m.RunId);
            return m.RunId == "r1" ? throw new InvalidOperationException("boom") : Task.CompletedTask;
        }, (_, _) => throw new IOException("the state store is gone"), concurrency, CancellationToken.None);

        var error = await Assert.ThrowsAsync<IOException>(async () => await drain.WaitAsync(Bound));
        Assert.That(error!.Message, Is.EqualTo("the state store is gone"));
        Assert.That(handled.Count(r => r == "r1"), Is.EqualTo(InProcessWorkQueue.MaxAttempts));
    }
}
