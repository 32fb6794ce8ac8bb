using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.TestKit.Contracts;

/// <summary>
/// What every <see cref="IRunStore"/> must guarantee, run against SQLite and Azure Table storage: the races that
/// decide "who goes next" have exactly one winner, documents are first-writer-wins, and a duplicate never counts twice.
/// </summary>
public abstract class RunStoreContract
{
    private IRunStore? _store;

    protected IRunStore Store => _store ?? throw new InvalidOperationException("The store was not created.");

    /// <summary>A fresh, empty store for each test.</summary>
    protected abstract Task<IRunStore> CreateStoreAsync();

    [SetUp]
    public async Task CreateStore() => _store = await CreateStoreAsync();

    private static readonly DateTimeOffset Slot = new(2026, 12, 4, 1, 0, 0, TimeSpan.Zero);

    protected static ExportRun NewRun(string activation = "vip", DateTimeOffset? slot = null, ExportMode mode = ExportMode.Full)
    {
        var at = slot ?? Slot;
        return new ExportRun
        {
            RunId = RunIds.ForSlot(activation, at),
            ActivationId = activation,
            Slot = at,
            CreatedAt = at,
            WatermarkTo = mode == ExportMode.Incremental ? at : null,
            Spec = new ExportSpec
            {
                ActivationId = activation,
                Source = new SourceSpec { Path = "/data/profiles.csv.gz" },
                SegmentId = "S1",
                Fields = [new OutputField("email", "email")],
                Destination = new DestinationSpec { Name = "local", Type = DestinationSpec.LocalType, Location = "/data/out" },
                Mode = mode,
            },
        };
    }

    private static PartRecord Part(int file, int part) => new(file, new PartReceipt(part, (part - 1) * 10L, 10, $"\"etag-{file}-{part}\"", "c2hh"));

    private static ChunkRecord Chunk(int slice, int seq) => new(slice, seq, 100, 10, 0, null, 1000, $"runs/r/{slice}/{seq}");

    [Test]
    public async Task Two_schedulers_firing_for_the_same_slot_start_one_run()
    {
        var run = NewRun();
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => Store.TryScheduleRunAsync(run, null, CancellationToken.None))));

        Assert.That(results.Count(r => r), Is.EqualTo(1));
        Assert.That(await Store.GetLastScheduledSlotAsync("vip", CancellationToken.None), Is.EqualTo(Slot));
        Assert.That((await Store.ListRunsAsync("vip", 10, CancellationToken.None)).Select(r => r.RunId), Is.EqualTo(new[] { run.RunId }));
        Assert.That((await Store.ListUnfinishedRunsAsync(CancellationToken.None)).Select(r => r.RunId), Is.EqualTo(new[] { run.RunId }));
    }

    [Test]
    public async Task A_scheduler_with_a_stale_cursor_loses_and_leaves_no_run_behind()
    {
        Assert.That(await Store.TryScheduleRunAsync(NewRun(), null, CancellationToken.None), Is.True);
        var later = NewRun(slot: Slot.AddDays(1));

        Assert.That(await Store.TryScheduleRunAsync(later, null, CancellationToken.None), Is.False, "the cursor is no longer empty");
        Assert.That(await Store.GetRunAsync(later.RunId, CancellationToken.None), Is.Null);
        Assert.That(await Store.TryScheduleRunAsync(later, Slot, CancellationToken.None), Is.True);
        Assert.That(await Store.GetLastScheduledSlotAsync("vip", CancellationToken.None), Is.EqualTo(Slot.AddDays(1)));
    }

    [Test]
    public async Task Schedulers_racing_for_different_slots_leave_only_the_winners_run()
    {
        // Two schedulers with different clocks: both see an empty cursor, each proposes its own slot.
        for (var i = 0; i < 5; i++)
        {
            var activation = $"race{i}";
            var runs = new[] { NewRun(activation), NewRun(activation, Slot.AddDays(1)) };
            var won = await Task.WhenAll(runs.Select(r => Task.Run(() => Store.TryScheduleRunAsync(r, null, CancellationToken.None))));

            Assert.That(won.Count(w => w), Is.EqualTo(1));
            var winner = runs[Array.IndexOf(won, true)];
            Assert.That((await Store.ListRunsAsync(activation, 10, CancellationToken.None)).Select(r => r.RunId), Is.EqualTo(new[] { winner.RunId }));
            Assert.That(await Store.GetLastScheduledSlotAsync(activation, CancellationToken.None), Is.EqualTo(winner.Slot));
        }
        Assert.That(await Store.ListUnfinishedRunsAsync(CancellationToken.None), Has.Count.EqualTo(5));
    }

    [Test]
    public async Task Creating_a_run_twice_keeps_the_first()
    {
        var run = NewRun();
        var first = await Store.CreateRunIfAbsentAsync(run, CancellationToken.None);
        var second = await Store.CreateRunIfAbsentAsync(run with { CreatedAt = Slot.AddHours(5) }, CancellationToken.None);

        Assert.That(first.CreatedAt, Is.EqualTo(Slot));
        Assert.That(second.CreatedAt, Is.EqualTo(Slot));
        Assert.That(second.Spec.Destination.Location, Is.EqualTo("/data/out"));
        Assert.That(second.Status, Is.EqualTo(RunStatus.Planning));
    }

    [Test]
    public async Task Exactly_one_of_racing_transitions_wins()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(() => Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Building, Slot, CancellationToken.None))));

        Assert.That(results.Count(r => r), Is.EqualTo(1));
        Assert.That((await Store.GetRunAsync(run.RunId, CancellationToken.None))!.Status, Is.EqualTo(RunStatus.Building));
        Assert.That(await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Building, Slot, CancellationToken.None), Is.False);
    }

    [Test]
    public async Task Two_slices_finishing_at_once_start_one_assembly()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Building, Slot, CancellationToken.None);
        const int slices = 2;
        // What BuildSlice does: record the slice, and the one that sees all slices done moves the run on.
        var assemblies = await Task.WhenAll(Enumerable.Range(0, slices).Concat([1]).Select(slice => Task.Run(async () =>
        {
            var done = await Store.RecordSliceDoneAsync(run.RunId, slice, 3, CancellationToken.None);
            return done == slices && await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Building, RunStatus.Assembling, Slot, CancellationToken.None);
        })));

        Assert.That(assemblies.Count(a => a), Is.EqualTo(1));
        Assert.That(await Store.ListDoneSlicesAsync(run.RunId, CancellationToken.None), Is.EquivalentTo(new[] { 0, 1 }));
        Assert.That(await Store.RecordSliceDoneAsync(run.RunId, 0, 3, CancellationToken.None), Is.EqualTo(slices), "a slice recorded again counts once");
    }

    [Test]
    public async Task Two_part_messages_for_the_last_part_complete_once()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Uploading, Slot, CancellationToken.None);
        const int total = 12;
        var messages = Enumerable.Range(1, total).Select(p => Part(1 + p % 2, p)).Concat([Part(1, total), Part(1 + total % 2, total)]).ToList();
        var completions = await Task.WhenAll(messages.Select(part => Task.Run(async () =>
        {
            var count = await Store.RecordPartAsync(run.RunId, part, CancellationToken.None);
            return count == total && await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Uploading, RunStatus.Completing, Slot, CancellationToken.None);
        })));

        Assert.That(completions.Count(c => c), Is.EqualTo(1));
        Assert.That(await Store.CountPartsAsync(run.RunId, CancellationToken.None), Is.EqualTo(total));
        var parts = await Store.ListPartsAsync(run.RunId, CancellationToken.None);
        Assert.That(parts, Has.Count.EqualTo(total));
        Assert.That(parts.Select(p => (p.File, p.Receipt.PartNumber)), Is.EquivalentTo(Enumerable.Range(1, total).Select(p => (1 + p % 2, p))));
        Assert.That(parts.Single(p => p.Receipt.PartNumber == 7).Receipt.ETag, Is.EqualTo("\"etag-2-7\""));
        Assert.That(await Store.HasPartAsync(run.RunId, 2, 7, CancellationToken.None), Is.True);
        Assert.That(await Store.HasPartAsync(run.RunId, 1, 7, CancellationToken.None), Is.False);
    }

    [Test]
    public async Task The_first_writer_of_a_document_wins()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        var plans = Enumerable.Range(0, 6)
            .Select(i => new ExportPlan([new SlicePlan(0, $"/data/attempt-{i}.csv", i, SourceFormat.Csv, false)], Slot))
            .ToList();
        var stored = await Task.WhenAll(plans.Select(p => Task.Run(() => Store.SetOnceAsync(run.RunId, "plan", p, CancellationToken.None))));

        var kept = await Store.GetDocumentAsync<ExportPlan>(run.RunId, "plan", CancellationToken.None);
        Assert.That(kept, Is.Not.Null);
        Assert.That(stored.Select(s => s.Slices[0].Path).Distinct(), Is.EqualTo(new[] { kept!.Slices[0].Path }), "every writer is told what was kept");
        Assert.That(await Store.GetDocumentAsync<ExportPlan>(run.RunId, "assembly", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task A_one_mebibyte_document_round_trips()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        // An assembly plan of a large split export: thousands of staged segments (far past a table property's 64 KiB).
        var segments = Enumerable.Range(0, 16_000).Select(i => new FileSegment($"runs/{run.RunId}/chunks/{i:D8}.gz", 8_388_608 + i)).ToList();
        var plan = new AssemblyPlan([new FilePlan(1, "out/vip_001.csv.gz", "upload-1", segments.Sum(s => s.Length), 5, new string('a', 64), segments, 8_388_608, 16_000)], 10, 0, null);
        Assert.That(Pipeline.Engine.EngineJson.Serialize(plan).Length, Is.GreaterThan(1 << 20));

        await Store.SetOnceAsync(run.RunId, "assembly", plan, CancellationToken.None);
        var read = await Store.GetDocumentAsync<AssemblyPlan>(run.RunId, "assembly", CancellationToken.None);

        Assert.That(read!.Files[0].Segments, Is.EqualTo(segments));
        Assert.That(read.Files[0].Length, Is.EqualTo(plan.Files[0].Length));
    }

    [Test]
    public async Task Chunks_list_in_source_order_and_count_once()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        var chunks = new[] { Chunk(1, 0), Chunk(0, 10), Chunk(0, 2), Chunk(1, 1), Chunk(0, 2) };
        foreach (var c in chunks) await Store.RecordChunkAsync(run.RunId, c, CancellationToken.None);

        var listed = await Store.ListChunksAsync(run.RunId, CancellationToken.None);
        Assert.That(listed.Select(c => (c.Slice, c.Seq)), Is.EqualTo(new[] { (0, 2), (0, 10), (1, 0), (1, 1) }));
        Assert.That(listed[0].StagingKey, Is.EqualTo("runs/r/0/2"));
    }

    [Test]
    public async Task A_finished_run_stays_finished_and_leaves_the_unfinished_list()
    {
        var done = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        var failed = await Store.CreateRunIfAbsentAsync(NewRun(slot: Slot.AddDays(1)), CancellationToken.None);
        var open = await Store.CreateRunIfAbsentAsync(NewRun(slot: Slot.AddDays(2)), CancellationToken.None);

        await Store.MarkSucceededAsync(done.RunId, 1, "out/vip.manifest.json", Slot.AddHours(1), CancellationToken.None);
        Assert.That(await Store.TryMarkFailedAsync(failed.RunId, 1, "disk full", Slot.AddHours(2), CancellationToken.None), Is.True);
        Assert.That(await Store.TryMarkFailedAsync(done.RunId, 1, "late failure", Slot.AddHours(3), CancellationToken.None), Is.False);

        var succeeded = (await Store.GetRunAsync(done.RunId, CancellationToken.None))!;
        Assert.That(succeeded.Status, Is.EqualTo(RunStatus.Succeeded));
        Assert.That(succeeded.ManifestKey, Is.EqualTo("out/vip.manifest.json"));
        Assert.That(succeeded.CompletedAt, Is.EqualTo(Slot.AddHours(1)));
        Assert.That((await Store.GetRunAsync(failed.RunId, CancellationToken.None))!.Error, Is.EqualTo("disk full"));
        Assert.That((await Store.ListUnfinishedRunsAsync(CancellationToken.None)).Select(r => r.RunId), Is.EqualTo(new[] { open.RunId }));
        Assert.That((await Store.ListRunsAsync("vip", 2, CancellationToken.None)).Select(r => r.RunId), Is.EqualTo(new[] { open.RunId, failed.RunId }),
            "newest slot first, limited");
    }

    [Test]
    public async Task A_retry_restarts_a_failed_run_once_and_keeps_its_progress_apart()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        await Store.RecordPartAsync(run.ProgressId, Part(1, 1), CancellationToken.None);
        await Store.TryMarkFailedAsync(run.RunId, 1, "disk full", Slot, CancellationToken.None);
        Assert.That(await Store.ListUnfinishedRunsAsync(CancellationToken.None), Is.Empty);

        var next = run with { Attempt = 2, LastProgressAt = Slot.AddHours(1) };
        var restarts = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => Store.TryRestartRunAsync(next, CancellationToken.None))));

        Assert.That(restarts.Count(r => r), Is.EqualTo(1));
        var stored = (await Store.GetRunAsync(run.RunId, CancellationToken.None))!;
        Assert.That((stored.Status, stored.Attempt, stored.Error, stored.CompletedAt), Is.EqualTo((RunStatus.Planning, 2, (string?)null, (DateTimeOffset?)null)));
        Assert.That((await Store.ListUnfinishedRunsAsync(CancellationToken.None)).Select(r => r.RunId), Is.EqualTo(new[] { run.RunId }));
        Assert.That(await Store.RecordPartAsync(stored.ProgressId, Part(1, 1), CancellationToken.None), Is.EqualTo(1), "attempt 2 counts its own parts");
        Assert.That(await Store.CountPartsAsync(run.ProgressId, CancellationToken.None), Is.EqualTo(1));
        Assert.That(await Store.TryMarkFailedAsync(run.RunId, 1, "a late message of attempt 1", Slot, CancellationToken.None), Is.False);
        Assert.That(await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Building, Slot, CancellationToken.None), Is.False);
        Assert.That(await Store.TryRestartRunAsync(next, CancellationToken.None), Is.False, "only a failed run restarts");
    }

    [Test]
    public async Task Hand_offs_and_heartbeats_apply_to_the_current_status_and_attempt()
    {
        var run = await Store.CreateRunIfAbsentAsync(NewRun(), CancellationToken.None);
        await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Building, Slot.AddMinutes(1), CancellationToken.None);
        Assert.That((await Store.GetRunAsync(run.RunId, CancellationToken.None))!.HandedOff, Is.False);

        await Store.MarkHandedOffAsync(run.RunId, 1, RunStatus.Planning, CancellationToken.None);
        Assert.That((await Store.GetRunAsync(run.RunId, CancellationToken.None))!.HandedOff, Is.False, "the run has moved past Planning");
        await Store.MarkHandedOffAsync(run.RunId, 1, RunStatus.Building, CancellationToken.None);
        await Store.TouchRunAsync(run.RunId, 1, Slot.AddMinutes(5), CancellationToken.None);
        await Store.TouchRunAsync(run.RunId, 1, Slot.AddMinutes(3), CancellationToken.None);
        await Store.TouchRunAsync(run.RunId, 2, Slot.AddMinutes(9), CancellationToken.None);

        var stored = (await Store.GetRunAsync(run.RunId, CancellationToken.None))!;
        Assert.That(stored.HandedOff, Is.True);
        Assert.That(stored.LastProgressAt, Is.EqualTo(Slot.AddMinutes(5)), "progress never moves back, and another attempt's doesn't count");
        await Store.TryTransitionAsync(run.RunId, 1, RunStatus.Building, RunStatus.Assembling, Slot.AddMinutes(6), CancellationToken.None);
        Assert.That((await Store.GetRunAsync(run.RunId, CancellationToken.None))!.HandedOff, Is.False, "a new status is not handed off yet");
    }

    [Test]
    public async Task Only_a_successful_incremental_run_moves_the_watermark_and_never_back()
    {
        var first = await Store.CreateRunIfAbsentAsync(NewRun(mode: ExportMode.Incremental), CancellationToken.None);
        var second = await Store.CreateRunIfAbsentAsync(NewRun(slot: Slot.AddDays(1), mode: ExportMode.Incremental), CancellationToken.None);
        var third = await Store.CreateRunIfAbsentAsync(NewRun(slot: Slot.AddDays(2), mode: ExportMode.Incremental), CancellationToken.None);

        await Store.TryMarkFailedAsync(third.RunId, 1, "denied", Slot, CancellationToken.None);
        Assert.That(await Store.GetWatermarkAsync("vip", CancellationToken.None), Is.Null);
        await Store.MarkSucceededAsync(second.RunId, 1, "m2", Slot, CancellationToken.None);
        await Store.MarkSucceededAsync(first.RunId, 1, "m1", Slot, CancellationToken.None);

        Assert.That(await Store.GetWatermarkAsync("vip", CancellationToken.None), Is.EqualTo(Slot.AddDays(1)));
        Assert.That(await Store.GetWatermarkAsync("other", CancellationToken.None), Is.Null);
    }
}
