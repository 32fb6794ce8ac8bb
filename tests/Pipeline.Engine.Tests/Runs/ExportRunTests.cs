using System.Security.Cryptography;
using System.Text;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Tests.Runs;

/// <summary>The run record, its ids, its messages and its documents.</summary>
public class ExportRunTests
{
    private static readonly ExportSpec Spec = new()
    {
        ActivationId = "vip",
        Source = new SourceSpec { Path = "/data/profiles.csv" },
        SegmentId = "S1",
        Fields = [new OutputField("email", "email")],
        Destination = new DestinationSpec { Name = "out", Type = DestinationSpec.LocalType, Location = "/out" },
    };

    private static string Hash8(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];

    [Test]
    public void A_slots_run_id_names_the_activation_and_the_slot_in_utc_with_a_hash_of_both()
    {
        var id = RunIds.ForSlot("vip", new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.FromHours(1)));

        Assert.That(id, Is.EqualTo("vip-20261207T020000Z-" + Hash8("vip|20261207T020000Z")));
        Assert.That(RunIds.ForSlot("vip", new DateTimeOffset(2026, 12, 7, 2, 0, 0, TimeSpan.Zero)), Is.EqualTo(id), "the same instant, the same run");
        Assert.That(RunIds.ForSlot("vip", new DateTimeOffset(2026, 12, 7, 2, 0, 1, TimeSpan.Zero)), Is.Not.EqualTo(id));
    }

    [Test]
    public void An_ad_hoc_run_id_comes_from_what_it_exports_and_when_it_was_asked_for()
    {
        var at = new DateTimeOffset(2026, 12, 7, 10, 30, 0, TimeSpan.FromHours(1));

        var id = RunIds.ForAdHoc(Spec, at);

        Assert.That(id, Is.EqualTo("adhoc-20261207T093000Z-" + Hash8(EngineJson.Serialize(Spec) + "|20261207T093000Z")));
        Assert.That(RunIds.ForAdHoc(Spec with { SegmentId = "S2" }, at), Is.Not.EqualTo(id));
    }

    [TestCase(1, "run-1")]
    [TestCase(0, "run-1")]
    [TestCase(2, "run-1-attempt2")]
    [TestCase(12, "run-1-attempt12")]
    public void Each_attempt_after_the_first_keeps_its_progress_apart(int attempt, string progressId)
    {
        Assert.That(ExportRun.ProgressIdFor("run-1", attempt), Is.EqualTo(progressId));
    }

    [Test]
    public void A_new_run_is_a_first_attempt_at_planning()
    {
        var run = new ExportRun { RunId = "run-1", ActivationId = "vip", Slot = DateTimeOffset.UnixEpoch, Spec = Spec, CreatedAt = DateTimeOffset.UnixEpoch };

        Assert.That((run.Status, run.Attempt, run.ProgressId, run.HandedOff), Is.EqualTo((RunStatus.Planning, 1, "run-1", false)));
        Assert.That((run with { Attempt = 3 }).ProgressId, Is.EqualTo("run-1-attempt3"));
    }

    [TestCase(RunStatus.Planning, false)]
    [TestCase(RunStatus.Building, false)]
    [TestCase(RunStatus.Assembling, false)]
    [TestCase(RunStatus.Uploading, false)]
    [TestCase(RunStatus.Completing, false)]
    [TestCase(RunStatus.Succeeded, true)]
    [TestCase(RunStatus.Failed, true)]
    public void Only_succeeded_and_failed_runs_are_finished(RunStatus status, bool finished)
    {
        var run = new ExportRun { RunId = "r", ActivationId = "vip", Slot = DateTimeOffset.UnixEpoch, Spec = Spec, CreatedAt = DateTimeOffset.UnixEpoch, Status = status };

        Assert.That(run.IsFinished, Is.EqualTo(finished));
    }

    [Test]
    public void A_message_is_never_of_an_attempt_below_one()
    {
        Assert.That(new PlanExport("r").Attempt, Is.EqualTo(1));
        Assert.That(new PlanExport("r") { Attempt = 0 }.Attempt, Is.EqualTo(1));
        Assert.That(new PlanExport("r") { Attempt = 4 }.Attempt, Is.EqualTo(4));
    }

    [Test]
    public void A_message_without_an_attempt_field_reads_as_attempt_one()
    {
        var message = EngineJson.Deserialize<StageMessage>("{\"stage\":\"upload\",\"runId\":\"r\",\"file\":2,\"part\":3}");

        Assert.That(message, Is.EqualTo(new UploadPart("r", 2, 3)));
        Assert.That(message.Attempt, Is.EqualTo(1));
    }

    [Test]
    public void Parts_cover_the_file_and_the_last_one_takes_the_rest()
    {
        var file = new FilePlan(1, "k", "u", 25, 3, "sha", [], 10, 3);

        Assert.That(new[] { file.PartRange(1), file.PartRange(2), file.PartRange(3) }, Is.EqualTo(new[] { (0L, 10L), (10L, 10L), (20L, 5L) }));
    }
}
