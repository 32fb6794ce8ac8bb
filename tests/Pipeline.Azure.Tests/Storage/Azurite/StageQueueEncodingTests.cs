using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Azure.Storage.Queues;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Runs;

namespace Pipeline.Azure.Tests.Storage.Azurite;

/// <summary>The producer writes what a Functions queue trigger decodes by default (base64 of the JSON), and the processor reads what the host would.</summary>
[Category("Integration")]
public sealed class StageQueueEncodingTests
{
    private QueueServiceClient _stages = null!;
    private QueueServiceClient _raw = null!;

    [SetUp]
    public async Task EmptyQueues()
    {
        _stages = new QueueServiceClient(AzuriteSetUp.Endpoints.ConnectionString, StageQueues.ClientOptions());
        // What is on the wire, undecoded: the trigger's view before it applies its base64 default.
        _raw = new QueueServiceClient(AzuriteSetUp.Endpoints.ConnectionString, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        foreach (var name in StageQueues.All.SelectMany(q => new[] { q, StageQueues.Poison(q), StageQueues.Poison(StageQueues.Poison(q)) }))
        {
            await _stages.GetQueueClient(name).CreateIfNotExistsAsync();
            await _stages.GetQueueClient(name).ClearMessagesAsync();
        }
    }

    [Test]
    public async Task Each_stage_message_lands_on_its_queue_as_base64_of_the_engine_json()
    {
        StageMessage[] sent = [new PlanExport("r1"), new BuildSlice("r1", 3), new AssembleFiles("r1"), new UploadPart("r1", 2, 17), new CompleteExport("r1")];
        string[] queues = ["plan-export", "build-slice", "assemble-files", "upload-part", "complete-export"];

        await new StorageQueueWorkQueue(_stages).EnqueueAsync(sent, CancellationToken.None);

        for (var i = 0; i < sent.Length; i++)
        {
            var peeked = (await _raw.GetQueueClient(queues[i]).PeekMessagesAsync(maxMessages: 32)).Value;
            Assert.That(peeked, Has.Length.EqualTo(1), queues[i]);
            var wire = peeked[0].Body.ToString();
            // The Functions host's default (QueueMessageEncoding.Base64 in the trigger): base64 of UTF-8 text.
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(wire));
            Assert.That(decoded, Is.EqualTo(StageQueues.Serialize(sent[i])));
            Assert.That(JsonDocument.Parse(decoded).RootElement.GetProperty("runId").GetString(), Is.EqualTo("r1"));
        }
        Assert.That(Encoding.UTF8.GetString(Convert.FromBase64String(
            (await _raw.GetQueueClient("upload-part").PeekMessageAsync()).Value.Body.ToString())),
            Is.EqualTo("""{"stage":"upload","file":2,"part":17,"runId":"r1","attempt":1}"""));
    }

    [Test]
    public async Task The_processor_reads_a_message_another_producer_wrote_as_base64_json()
    {
        var json = """{"stage":"build","slice":4,"runId":"r2"}""";
        await _raw.GetQueueClient("build-slice").SendMessageAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(json)));
        var handled = new ConcurrentBag<(StageMessage Message, long DequeueCount)>();

        await new StageQueueProcessor(_stages).DrainAsync((m, count, _) => { handled.Add((m, count)); return Task.CompletedTask; },
            (_, _) => Task.CompletedTask, CancellationToken.None);

        Assert.That(handled, Is.EqualTo(new[] { ((StageMessage)new BuildSlice("r2", 4), 1L) }));
        Assert.That((await _raw.GetQueueClient("build-slice").PeekMessagesAsync()).Value, Is.Empty);
    }

    [Test]
    public async Task The_handler_sees_the_dequeue_count_and_a_message_that_keeps_failing_moves_to_its_poison_queue_unchanged()
    {
        await new StorageQueueWorkQueue(_stages).EnqueueAsync([new CompleteExport("r3")], CancellationToken.None);
        var wire = (await _raw.GetQueueClient("complete-export").PeekMessageAsync()).Value.Body.ToString();
        var counts = new ConcurrentBag<long>();
        var poisoned = new ConcurrentBag<StageMessage>();

        // Poisoned messages are handed on: keep the poison queue's copy by failing its handler past its own limit.
        await new StageQueueProcessor(_stages, new StageQueueOptions { MaxDequeueCount = 2 }).DrainAsync(
            (_, count, _) => { counts.Add(count); throw new IOException("fails"); },
            (m, _) => { poisoned.Add(m); throw new IOException("poison handler fails too"); }, CancellationToken.None);

        Assert.That(counts.Order(), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(poisoned, Is.EqualTo(new StageMessage[] { new CompleteExport("r3"), new CompleteExport("r3") }));
        Assert.That((await _raw.GetQueueClient("complete-export").PeekMessagesAsync()).Value, Is.Empty);
        Assert.That((await _raw.GetQueueClient("complete-export-poison").PeekMessagesAsync()).Value, Is.Empty);
        var parked = (await _raw.GetQueueClient("complete-export-poison-poison").PeekMessagesAsync()).Value;
        Assert.That(parked.Select(m => m.Body.ToString()), Is.EqualTo(new[] { wire }));
    }

    [Test]
    public async Task A_message_on_a_poison_queue_that_is_not_base64_is_parked_and_the_drain_ends()
    {
        await _raw.GetQueueClient("upload-part-poison").SendMessageAsync("""{"stage":"upload","runId":"r-plain","file":1,"part":1}""");
        var poisoned = new ConcurrentBag<StageMessage>();

        await new StageQueueProcessor(_stages).DrainAsync((_, _, _) => Task.CompletedTask,
            (m, _) => { poisoned.Add(m); return Task.CompletedTask; }, CancellationToken.None);

        Assert.That(poisoned, Is.Empty);
        Assert.That((await _raw.GetQueueClient("upload-part-poison").GetPropertiesAsync()).Value.ApproximateMessagesCount, Is.Zero);
        var parked = (await _raw.GetQueueClient("upload-part-poison-poison").PeekMessagesAsync()).Value;
        // Moved through the stage clients, so base64 now, like every message the stages send.
        Assert.That(parked.Select(m => System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(m.Body.ToString()))),
            Is.EqualTo(new[] { """{"stage":"upload","runId":"r-plain","file":1,"part":1}""" }));
    }

    [Test]
    public async Task A_message_that_is_not_base64_skips_the_stage_and_reaches_the_poison_handler()
    {
        // A producer that forgot the base64 encoding: the host would not run the stage but move it to the poison queue.
        await _raw.GetQueueClient("plan-export").SendMessageAsync("""{"stage":"plan","runId":"r-plain"}""");
        var handled = new ConcurrentBag<StageMessage>();
        var poisoned = new ConcurrentBag<StageMessage>();

        await new StageQueueProcessor(_stages).DrainAsync((m, _, _) => { handled.Add(m); return Task.CompletedTask; },
            (m, _) => { poisoned.Add(m); return Task.CompletedTask; }, CancellationToken.None);

        Assert.That(handled, Is.Empty);
        Assert.That(poisoned, Is.EqualTo(new StageMessage[] { new PlanExport("r-plain") }));
        Assert.That((await _raw.GetQueueClient("plan-export").PeekMessagesAsync()).Value, Is.Empty);
        Assert.That((await _raw.GetQueueClient("plan-export-poison").PeekMessagesAsync()).Value, Is.Empty);
    }
}
