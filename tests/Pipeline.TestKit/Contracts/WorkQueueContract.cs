using System.Collections.Concurrent;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.TestKit.Contracts;

/// <summary>
/// What every stage queue promises (the in-process channel locally, Storage queues in Azure): each message enqueued is
/// handled at least once and arrives equal to what was sent; a message whose handler fails is handled again; one that
/// fails <see cref="MaxAttempts"/> times goes to the poison handler once and is not handled again; and a drain waits
/// for the messages its handlers enqueue.
/// </summary>
public abstract class WorkQueueContract
{
    private IWorkQueue? _queue;

    protected IWorkQueue Queue => _queue ?? throw new InvalidOperationException("The queue was not created (setup failed).");

    /// <summary>Attempts before a message is poisoned.</summary>
    protected abstract int MaxAttempts { get; }

    /// <summary>A queue with nothing in it, private to the current test.</summary>
    protected abstract Task<IWorkQueue> CreateQueueAsync(CancellationToken cancellationToken);

    /// <summary>Handles messages until none are left, as the pipeline's driver does.</summary>
    protected abstract Task DrainAsync(Func<StageMessage, CancellationToken, Task> handle, Func<StageMessage, CancellationToken, Task> poison,
        CancellationToken cancellationToken);

    [SetUp]
    public async Task CreateQueue()
    {
        _unexpectedlyPoisoned.Clear();
        _queue = await CreateQueueAsync(CancellationToken.None);
    }

    private readonly ConcurrentBag<StageMessage> _unexpectedlyPoisoned = [];

    /// <summary>A poison handler for tests where nothing may be poisoned; <see cref="CheckNothingPoisoned"/> asserts it.</summary>
    private Func<StageMessage, CancellationToken, Task> NoPoison => (message, _) =>
    {
        _unexpectedlyPoisoned.Add(message);
        return Task.CompletedTask;
    };

    [TearDown]
    public void CheckNothingPoisoned() => Assert.That(_unexpectedlyPoisoned, Is.Empty, "messages poisoned");

    [Test]
    public async Task Every_stage_message_is_handled_and_arrives_equal_to_what_was_sent()
    {
        StageMessage[] sent =
        [
            new PlanExport("run-1"), new BuildSlice("run-1", 7), new AssembleFiles("run-1"),
            new UploadPart("run-1", 2, 9_999), new CompleteExport("run-1"),
        ];
        await Queue.EnqueueAsync(sent, CancellationToken.None);
        var handled = new ConcurrentBag<StageMessage>();

        await DrainAsync((m, _) => { handled.Add(m); return Task.CompletedTask; }, NoPoison, CancellationToken.None);

        Assert.That(handled.Distinct(), Is.EquivalentTo(sent));
    }

    [Test]
    public async Task A_fan_out_of_a_thousand_part_messages_is_handled_completely()
    {
        var sent = Enumerable.Range(1, 1_000).Select(p => (StageMessage)new UploadPart("run-2", 1 + (p % 3), p)).ToList();
        await Queue.EnqueueAsync(sent, CancellationToken.None);
        var handled = new ConcurrentDictionary<StageMessage, int>();

        await DrainAsync((m, _) => { handled.AddOrUpdate(m, 1, (_, n) => n + 1); return Task.CompletedTask; }, NoPoison, CancellationToken.None);

        Assert.That(handled.Keys, Is.EquivalentTo(sent));
    }

    [Test]
    public async Task A_message_whose_handler_fails_is_handled_again_until_it_succeeds()
    {
        var flaky = new BuildSlice("run-3", 1);
        var steady = new BuildSlice("run-3", 2);
        await Queue.EnqueueAsync([flaky, steady], CancellationToken.None);
        var attempts = new ConcurrentDictionary<StageMessage, int>();

        await DrainAsync((m, _) =>
        {
            var attempt = attempts.AddOrUpdate(m, 1, (_, n) => n + 1);
            if (m == flaky && attempt < MaxAttempts) throw new IOException($"attempt {attempt} fails");
            return Task.CompletedTask;
        }, NoPoison, CancellationToken.None);

        Assert.That(attempts[flaky], Is.EqualTo(MaxAttempts));
        Assert.That(attempts[steady], Is.EqualTo(1));
    }

    [Test]
    public async Task A_message_that_always_fails_goes_to_the_poison_handler_once_after_the_last_attempt()
    {
        var doomed = new AssembleFiles("run-4");
        var fine = new AssembleFiles("run-5");
        await Queue.EnqueueAsync([doomed, fine], CancellationToken.None);
        var attempts = new ConcurrentDictionary<StageMessage, int>();
        var poisoned = new ConcurrentBag<StageMessage>();

        await DrainAsync((m, _) =>
        {
            attempts.AddOrUpdate(m, 1, (_, n) => n + 1);
            return m == doomed ? throw new InvalidDataException("always fails") : Task.CompletedTask;
        }, (m, _) => { poisoned.Add(m); return Task.CompletedTask; }, CancellationToken.None);

        Assert.That(attempts[doomed], Is.EqualTo(MaxAttempts));
        Assert.That(attempts[fine], Is.EqualTo(1));
        Assert.That(poisoned, Is.EqualTo(new[] { doomed }));
    }

    [Test]
    public async Task A_drain_waits_for_the_messages_its_handlers_enqueue()
    {
        await Queue.EnqueueAsync([new PlanExport("run-6")], CancellationToken.None);
        var handled = new ConcurrentBag<StageMessage>();

        await DrainAsync(async (m, ct) =>
        {
            handled.Add(m);
            switch (m)
            {
                case PlanExport p:
                    await Queue.EnqueueAsync(Enumerable.Range(1, 20).Select(s => (StageMessage)new BuildSlice(p.RunId, s)).ToList(), ct);
                    break;
                case BuildSlice { Slice: 20 } b:
                    await Queue.EnqueueAsync([new AssembleFiles(b.RunId)], ct);
                    break;
                case AssembleFiles a:
                    await Queue.EnqueueAsync([new CompleteExport(a.RunId)], ct);
                    break;
            }
        }, NoPoison, CancellationToken.None);

        Assert.That(handled.Distinct().Count(), Is.EqualTo(1 + 20 + 1 + 1));
        Assert.That(handled, Does.Contain(new CompleteExport("run-6")));
    }

    [Test]
    public async Task A_drain_with_nothing_queued_returns()
    {
        var handled = 0;
        await DrainAsync((_, _) => { Interlocked.Increment(ref handled); return Task.CompletedTask; }, NoPoison, CancellationToken.None);
        Assert.That(handled, Is.Zero);
    }
}
