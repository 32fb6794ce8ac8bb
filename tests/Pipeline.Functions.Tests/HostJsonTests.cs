using System.Text;
using System.Text.Json.Nodes;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Runs;

namespace Pipeline.Functions.Tests;

/// <summary>host.json at the repository root: the values the README explains, and the message encoding the producer writes.</summary>
public sealed class HostJsonTests
{
    private static readonly string Text = File.ReadAllText(Path.Combine(Repo.Root, "host.json"));
    private static readonly QueueHostSettings Host = QueueHostSettings.Parse(Text);

    [Test]
    public void It_is_a_version_2_host_json()
    {
        Assert.That((string?)JsonNode.Parse(Text)!["version"], Is.EqualTo("2.0"));
    }

    [Test]
    public void The_trigger_decodes_base64_which_is_what_the_producer_writes()
    {
        Assert.That(Host.MessageEncoding, Is.EqualTo("base64"));
        // What StorageQueueWorkQueue puts on the wire (the stage queues' client options), decoded the trigger's way.
        var message = new UploadPart("run-1", 2, 17) { Attempt = 3 };
        Assert.That(StageQueues.ClientOptions().MessageEncoding, Is.EqualTo(global::Azure.Storage.Queues.QueueMessageEncoding.Base64));
        var onTheQueue = Convert.ToBase64String(Encoding.UTF8.GetBytes(StageQueues.Serialize(message)));
        var triggerText = Encoding.UTF8.GetString(Convert.FromBase64String(onTheQueue));
        Assert.That(StageQueues.Deserialize(BinaryData.FromString(triggerText), StageQueues.UploadPart), Is.EqualTo(message));
    }

    [Test]
    public void Builds_at_once_on_an_instance_fit_its_memory()
    {
        // docs/scale.md: a build peaks near 110 MiB, 256 MiB budgeted; the default instance has 2,048 MB, of which the
        // worker, the host and the SDK clients keep ~512 MB.
        var perInstance = Host.BatchSize + Host.NewBatchThreshold;
        Assert.That(perInstance * 256, Is.LessThanOrEqualTo(2048 - 512), $"{Host.BatchSize} + {Host.NewBatchThreshold} messages at once");
        Assert.That(perInstance, Is.GreaterThanOrEqualTo(4), "parts upload in parallel");
    }

    [Test]
    public void Retries_and_timeout_are_the_ones_the_README_explains()
    {
        Assert.That(Host.MaxDequeueCount, Is.EqualTo(5));
        Assert.That(Host.VisibilityTimeout, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(Host.MaxPollingInterval, Is.EqualTo(TimeSpan.FromSeconds(10)));
        // At most Flex's 60-minute grace on scale-in, so no execution is cut off before its own timeout.
        Assert.That(Host.FunctionTimeout, Is.EqualTo(TimeSpan.FromHours(1)));
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        foreach (var setting in new[] { "functionTimeout", "batchSize", "newBatchThreshold", "maxDequeueCount", "visibilityTimeout", "maxPollingInterval", "messageEncoding" })
            Assert.That(readme, Does.Contain($"`{setting}`"), setting);
    }

    [Test]
    public void Left_out_values_are_the_host_defaults()
    {
        var host = QueueHostSettings.Parse("""{ "version": "2.0", "extensions": { "queues": { "batchSize": 8 } } }""");
        Assert.That(host.NewBatchThreshold, Is.EqualTo(4));
        Assert.That(host.MaxDequeueCount, Is.EqualTo(5));
        Assert.That(host.VisibilityTimeout, Is.EqualTo(TimeSpan.Zero));
        Assert.That(host.MessageEncoding, Is.EqualTo("base64"));
        Assert.That(host.FunctionTimeout, Is.Null);
    }
}
