using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Tests.Runs;

public class StageHandOffTests : RunHarnessFixture
{
    private static readonly SlicePlan[] ThreeSlices =
    [
        new(0, "/data/a.csv", 10, SourceFormat.Csv, false),
        new(1, "/data/b.csv", 10, SourceFormat.Csv, false),
        new(2, "/data/c.csv", 10, SourceFormat.Csv, false),
    ];

    private static FilePlan File(int index, int parts) => new(index, $"f{index}", $"u{index}", parts * 10, 1, "sha", [], 10, parts);

    private static PartRecord Part(int file, int part) => new(file, new PartReceipt(part, (part - 1) * 10L, 10, "\"e\"", "c2hh"));

    /// <summary>The run at <paramref name="status"/>, attempt 3 (so a message of the wrong attempt would show).</summary>
    private async Task<ExportRun> RunAt(RunStatus status)
    {
        var run = await H.CreateRunAsync(H.Spec("/data")) with { Attempt = 3, Status = status };
        return run;
    }

    private Task<IReadOnlyCollection<StageMessage>> Pending(ExportRun run) => StageHandOff.PendingAsync(H.Store, run, None);

    [Test]
    public void Each_stage_message_expects_one_status_and_hands_off_to_the_next()
    {
        Assert.That(StageHandOff.StatusesOf(new PlanExport("r")), Is.EqualTo((RunStatus.Planning, RunStatus.Building)));
        Assert.That(StageHandOff.StatusesOf(new BuildSlice("r", 0)), Is.EqualTo((RunStatus.Building, RunStatus.Assembling)));
        Assert.That(StageHandOff.StatusesOf(new AssembleFiles("r")), Is.EqualTo((RunStatus.Assembling, RunStatus.Uploading)));
        Assert.That(StageHandOff.StatusesOf(new UploadPart("r", 1, 1)), Is.EqualTo((RunStatus.Uploading, RunStatus.Completing)));
        Assert.That(StageHandOff.StatusesOf(new CompleteExport("r")), Is.EqualTo((RunStatus.Completing, RunStatus.Succeeded)));
        Assert.That(() => StageHandOff.StatusesOf(new Strange("r")),
            Throws.ArgumentException.With.Message.StartWith("Unknown stage message Strange.").And.Property(nameof(ArgumentException.ParamName)).EqualTo("message"));
    }

    private sealed record Strange(string RunId) : StageMessage(RunId);

    [Test]
    public async Task A_planning_run_needs_its_PlanExport()
    {
        var run = await RunAt(RunStatus.Planning);
        Assert.That(await Pending(run), Is.EqualTo(new[] { new PlanExport(run.RunId) { Attempt = 3 } }));
    }

    [Test]
    public async Task A_building_run_needs_the_slices_not_yet_built()
    {
        var run = await RunAt(RunStatus.Building);
        await H.Store.SetOnceAsync(run.ProgressId, ExportStages.Documents.Plan, new ExportPlan(ThreeSlices, H.Time.GetUtcNow()), None);
        await H.Store.RecordSliceDoneAsync(run.ProgressId, 1, 1, None);

        Assert.That(await Pending(run), Is.EqualTo(new[] { new BuildSlice(run.RunId, 0) { Attempt = 3 }, new BuildSlice(run.RunId, 2) { Attempt = 3 } }));
    }

    [Test]
    public async Task A_building_run_with_every_slice_built_needs_one_slice_message_to_move_on()
    {
        var run = await RunAt(RunStatus.Building);
        await H.Store.SetOnceAsync(run.ProgressId, ExportStages.Documents.Plan, new ExportPlan(ThreeSlices, H.Time.GetUtcNow()), None);
        foreach (var s in ThreeSlices) await H.Store.RecordSliceDoneAsync(run.ProgressId, s.Index, 1, None);

        Assert.That(await Pending(run), Is.EqualTo(new[] { new BuildSlice(run.RunId, 0) { Attempt = 3 } }));
    }

    [Test]
    public async Task A_building_run_without_a_plan_needs_nothing()
    {
        Assert.That(await Pending(await RunAt(RunStatus.Building)), Is.Empty);
    }

    [Test]
    public async Task An_assembling_run_needs_its_AssembleFiles()
    {
        var run = await RunAt(RunStatus.Assembling);
        Assert.That(await Pending(run), Is.EqualTo(new[] { new AssembleFiles(run.RunId) { Attempt = 3 } }));
    }

    [Test]
    public async Task An_uploading_run_needs_the_parts_not_yet_recorded()
    {
        var run = await RunAt(RunStatus.Uploading);
        await H.Store.SetOnceAsync(run.ProgressId, ExportStages.Documents.Assembly, new AssemblyPlan([File(1, 2), File(2, 3)], 0, 0, null), None);
        await H.Store.RecordPartAsync(run.ProgressId, Part(1, 2), None);
        await H.Store.RecordPartAsync(run.ProgressId, Part(2, 1), None);

        Assert.That(await Pending(run), Is.EqualTo(new[]
        {
            new UploadPart(run.RunId, 1, 1) { Attempt = 3 },
            new UploadPart(run.RunId, 2, 2) { Attempt = 3 },
            new UploadPart(run.RunId, 2, 3) { Attempt = 3 },
        }));
    }

    [Test]
    public async Task An_uploading_run_with_every_part_recorded_needs_one_part_message_to_move_on()
    {
        var run = await RunAt(RunStatus.Uploading);
        await H.Store.SetOnceAsync(run.ProgressId, ExportStages.Documents.Assembly, new AssemblyPlan([File(1, 1), File(2, 1)], 0, 0, null), None);
        await H.Store.RecordPartAsync(run.ProgressId, Part(1, 1), None);
        await H.Store.RecordPartAsync(run.ProgressId, Part(2, 1), None);

        Assert.That(await Pending(run), Is.EqualTo(new[] { new UploadPart(run.RunId, 1, 1) { Attempt = 3 } }));
    }

    [Test]
    public async Task An_uploading_run_without_an_assembly_needs_nothing()
    {
        Assert.That(await Pending(await RunAt(RunStatus.Uploading)), Is.Empty);
    }

    [Test]
    public async Task A_completing_run_needs_its_CompleteExport()
    {
        var run = await RunAt(RunStatus.Completing);
        Assert.That(await Pending(run), Is.EqualTo(new[] { new CompleteExport(run.RunId) { Attempt = 3 } }));
    }

    [TestCase(RunStatus.Succeeded)]
    [TestCase(RunStatus.Failed)]
    public async Task A_finished_run_needs_nothing(RunStatus status)
    {
        Assert.That(await Pending(await RunAt(status)), Is.Empty);
    }

    [Test]
    public async Task Sending_what_a_run_needs_records_the_hand_off()
    {
        var run = await H.CreateRunAsync(H.Spec("/data"));

        var sent = await StageHandOff.SendPendingAsync(H.Store, H.Queue, run, None);

        Assert.That(sent, Is.EqualTo(new[] { new PlanExport(run.RunId) }));
        Assert.That(H.Queue.Sent, Is.EqualTo(sent));
        Assert.That((await H.GetRunAsync(run.RunId)).HandedOff, Is.True);
    }

    [Test]
    public async Task A_run_that_needs_nothing_sends_nothing_and_is_still_recorded_as_handed_off()
    {
        var run = await H.CreateRunAsync(H.Spec("/data"));
        await H.Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Building, H.Time.GetUtcNow(), None);
        run = await H.GetRunAsync(run.RunId);
        var queue = new ThrowingQueue();

        var sent = await StageHandOff.SendPendingAsync(H.Store, queue, run, None);

        Assert.That(sent, Is.Empty, "no plan recorded");
        Assert.That((await H.GetRunAsync(run.RunId)).HandedOff, Is.True);
    }

    private sealed class ThrowingQueue : IWorkQueue
    {
        public Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("nothing should be sent");
    }
}
