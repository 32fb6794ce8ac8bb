using Pipeline.Engine.Runs;

namespace Pipeline.Functions.Tests;

public sealed class StageLogTests
{
    [TestCase("s1-daily")]
    [TestCase("a-b-20261123T020000Z-x")]
    [TestCase("vip.weekly_2")]
    public void The_activation_is_read_back_from_a_scheduled_run_id(string activation)
    {
        var runId = RunIds.ForSlot(activation, new DateTimeOffset(2026, 11, 23, 2, 0, 0, TimeSpan.Zero));
        Assert.That(StageLog.ActivationOf(runId), Is.EqualTo(activation));
    }

    [Test]
    public void Another_id_has_no_activation()
    {
        Assert.That(StageLog.ActivationOf("not-a-run"), Is.Null);
    }

    [Test]
    public void A_message_scope_carries_run_activation_file_and_part()
    {
        var runId = RunIds.ForSlot("vip", new DateTimeOffset(2026, 11, 23, 2, 0, 0, TimeSpan.Zero));
        var scope = StageLog.Scope("upload-part", new QueueTriggerInfo("m-1", 3), new UploadPart(runId, 2, 7) { Attempt = 2 });
        Assert.That(scope, Is.EquivalentTo(new Dictionary<string, object>
        {
            ["Queue"] = "upload-part", ["MessageId"] = "m-1", ["DequeueCount"] = 3L, ["RunId"] = runId, ["Attempt"] = 2,
            ["ActivationId"] = "vip", ["File"] = 2, ["Part"] = 7,
        }));
    }

    [Test]
    public void The_trigger_metadata_is_read_as_the_host_sends_it()
    {
        var info = QueueTriggerInfo.From(new DriverFunctionContext(EmptyServices.Instance, "abc", 4));
        Assert.That(info, Is.EqualTo(new QueueTriggerInfo("abc", 4)));
    }
}

internal sealed class EmptyServices : IServiceProvider
{
    public static EmptyServices Instance { get; } = new();

    public object? GetService(Type serviceType) => null;
}
