using System.Text.Json.Nodes;
using Pipeline.Azure.Storage;

namespace Pipeline.Functions.Tests;

/// <summary>
/// The functions.metadata the worker SDK writes at build time (the host indexes the same bindings): every function with
/// its trigger, queue, connection and schedule. A renamed queue or a lost attribute fails here.
/// </summary>
public sealed class BindingTests
{
    private static JsonArray Metadata => JsonNode.Parse(File.ReadAllText(Path.Combine(Repo.AppOutput, "functions.metadata")))!.AsArray();

    private static JsonObject Trigger(string function)
    {
        var entry = Metadata.SingleOrDefault(f => (string?)f!["name"] == function)
                    ?? throw new AssertionException($"functions.metadata has no function {function}");
        var triggers = entry["bindings"]!.AsArray().Where(b => ((string)b!["type"]!).EndsWith("Trigger", StringComparison.Ordinal)).ToList();
        Assert.That(triggers, Has.Count.EqualTo(1), function);
        Assert.That((string?)triggers[0]!["direction"], Is.EqualTo("In"));
        return triggers[0]!.AsObject();
    }

    [Test]
    public void The_app_has_exactly_these_functions()
    {
        Assert.That(Metadata.Select(f => (string)f!["name"]!), Is.EquivalentTo(new[]
        {
            "ScheduleExports", "PlanExport", "BuildSlice", "AssembleFiles", "UploadPart", "CompleteExport",
            "PlanExportPoison", "BuildSlicePoison", "AssembleFilesPoison", "UploadPartPoison", "CompleteExportPoison",
            "SweepStaleUploads", "Watchdog",
        }));
        Assert.That(Metadata.Select(f => (string?)f!["language"]), Has.All.EqualTo("dotnet-isolated"));
    }

    [TestCase("PlanExport", "plan-export")]
    [TestCase("BuildSlice", "build-slice")]
    [TestCase("AssembleFiles", "assemble-files")]
    [TestCase("UploadPart", "upload-part")]
    [TestCase("CompleteExport", "complete-export")]
    [TestCase("PlanExportPoison", "plan-export-poison")]
    [TestCase("BuildSlicePoison", "build-slice-poison")]
    [TestCase("AssembleFilesPoison", "assemble-files-poison")]
    [TestCase("UploadPartPoison", "upload-part-poison")]
    [TestCase("CompleteExportPoison", "complete-export-poison")]
    public void A_queue_function_reads_its_queue_on_the_PipelineStorage_connection(string function, string queue)
    {
        var trigger = Trigger(function);
        Assert.That((string?)trigger["type"], Is.EqualTo("queueTrigger"));
        Assert.That((string?)trigger["queueName"], Is.EqualTo(queue));
        Assert.That((string?)trigger["connection"], Is.EqualTo("PipelineStorage"));
        Assert.That((string?)trigger["dataType"], Is.EqualTo("String"), "the message text, base64-decoded by the host");
    }

    [Test]
    public void Each_stage_queue_and_each_poison_queue_has_exactly_one_function()
    {
        var queues = Metadata.Select(f => f!["bindings"]!.AsArray().Select(b => (string?)b!["queueName"]).SingleOrDefault(q => q is not null))
            .Where(q => q is not null).ToList();
        var expected = StageQueues.All.Concat(StageQueues.All.Select(StageQueues.Poison)).ToList();
        Assert.That(queues, Is.EquivalentTo(expected), "one function per queue, no queue without one, none twice");
    }

    [TestCase("ScheduleExports", "0 * * * * *")]
    [TestCase("Watchdog", "30 */5 * * * *")]
    [TestCase("SweepStaleUploads", "0 30 3 * * *")]
    public void A_timer_function_runs_on_its_schedule(string function, string schedule)
    {
        var trigger = Trigger(function);
        Assert.That((string?)trigger["type"], Is.EqualTo("timerTrigger"));
        Assert.That((string?)trigger["schedule"], Is.EqualTo(schedule));
        Assert.That((bool?)trigger["runOnStartup"] ?? false, Is.False, "a start-up run would tick on every scale-out");
    }

    [Test]
    public void The_app_output_holds_the_repository_host_json_and_the_queue_extension()
    {
        Assert.That(File.ReadAllText(Path.Combine(Repo.AppOutput, "host.json")), Is.EqualTo(File.ReadAllText(Path.Combine(Repo.Root, "host.json"))));
        var extensions = JsonNode.Parse(File.ReadAllText(Path.Combine(Repo.AppOutput, "extensions.json")))!["extensions"]!.AsArray();
        Assert.That(extensions.Select(e => (string?)e!["name"]), Does.Contain("AzureStorageQueues"),
            "the host loads the queue trigger's extension from .azurefunctions/");
    }
}
