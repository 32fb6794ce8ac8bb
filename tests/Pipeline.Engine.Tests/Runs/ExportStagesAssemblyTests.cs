using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Tests.Runs;

/// <summary>AssembleFiles and UploadPart delivered again after a crash, and racing another attempt: no upload is left behind or made twice.</summary>
public class ExportStagesAssemblyTests : RunHarnessFixture
{
    /// <summary>Two source files, one output file for each.</summary>
    private ExportSpec TwoFileSpec()
    {
        H.WriteSource("a.csv", 40);
        return H.Spec(Path.GetDirectoryName(H.WriteSource("b.csv", 30, first: 40))!, s => s with { MaxFileSize = 600 });
    }

    private Task Handle(StageMessage message) => H.Stages.HandleAsync(message, None);

    private async Task<AssemblyPlan> Assembly(ExportRun run) =>
        (await H.Store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, None))!;

    /// <summary>Makes the next move of the run out of <paramref name="from"/> fail, as a crash right after the work it records would.</summary>
    private void FailNextTransitionFrom(RunStatus from) =>
        H.Spy.Before(nameof(IRunStore.TryTransitionAsync), args =>
        {
            if ((RunStatus)args[2]! != from) return null;
            H.Spy.Reset(nameof(IRunStore.TryTransitionAsync));
            return Task.FromException(new IOException("state store is gone"));
        });

    [Test]
    public async Task Assembly_starts_one_upload_per_file_after_recording_which_keys_it_starts()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());
        var intentBeforeStart = new List<FileStartIntent?>();
        H.Destination.OnStart = _ => intentBeforeStart.Add(H.Store.GetDocumentAsync<FileStartIntent>(run.ProgressId, ExportStages.Documents.FileStarts, None).Result);

        await Handle(new AssembleFiles(run.RunId));

        Assert.That(intentBeforeStart.Select(i => i?.Keys), Is.EqualTo(new[] { new[] { "daily/vip_001.csv", "daily/vip_002.csv" }, new[] { "daily/vip_001.csv", "daily/vip_002.csv" } }));
        var assembly = await Assembly(run);
        Assert.That(assembly.Files.Select(f => (f.Index, f.Key, f.UploadId)), Is.EqualTo(new[] { (1, "daily/vip_001.csv", "upload-1"), (2, "daily/vip_002.csv", "upload-2") }));
        Assert.That(H.Destination.CallsStartingWith("start"), Is.EqualTo(assembly.Files.Select(f => $"start {f.Key} {f.Length}")));
        Assert.That(assembly.Files.Select(f => f.PartCount), Is.EqualTo(assembly.Files.Select(f => (int)((f.Length + 63) / 64))));
        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Uploading));
    }

    [Test]
    public async Task Assembly_aborts_uploads_of_its_keys_that_no_assembly_recorded_keeping_the_recorded_ones()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());
        // An earlier try of this attempt planned another split, and died after starting its files.
        await H.Store.SetOnceAsync(run.ProgressId, ExportStages.Documents.FileStarts, new FileStartIntent("earlier", ["daily/vip_002.csv", "daily/vip_009.csv"]), None);

        await Handle(new AssembleFiles(run.RunId));

        Assert.That(H.Destination.CallsStartingWith("abort-unrecorded"), Is.EqualTo(new[]
        {
            $"abort-unrecorded {run.ProgressId} daily/vip_002.csv keep upload-2",
            $"abort-unrecorded {run.ProgressId} daily/vip_009.csv keep none",
            $"abort-unrecorded {run.ProgressId} daily/vip_001.csv keep upload-1",
        }));
    }

    [Test]
    public async Task An_assembly_recorded_without_the_keys_it_started_still_aborts_the_unrecorded_uploads_of_its_files()
    {
        // State written before assemblies recorded their keys first has no file-start document.
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());
        H.Spy.Instead(nameof(IRunStore.GetDocumentAsync), args =>
            (string)args[1]! == ExportStages.Documents.FileStarts ? Task.FromResult<FileStartIntent?>(null) : StoreSpy.Forward);

        await Handle(new AssembleFiles(run.RunId));

        Assert.That(H.Destination.CallsStartingWith("abort-unrecorded"), Is.EqualTo(new[]
        {
            $"abort-unrecorded {run.ProgressId} daily/vip_001.csv keep upload-1",
            $"abort-unrecorded {run.ProgressId} daily/vip_002.csv keep upload-2",
        }));
    }

    [Test]
    public async Task When_another_attempt_recorded_its_assembly_first_ours_is_aborted_and_theirs_is_used()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());
        H.Spy.Before(nameof(IRunStore.SetOnceAsync), args =>
        {
            if (args[2] is not AssemblyPlan ours) return null;
            var theirs = ours with { Files = ours.Files.Select(f => f with { UploadId = "theirs-" + f.Index }).ToList() };
            return H.Inner.SetOnceAsync(run.ProgressId, ExportStages.Documents.Assembly, theirs, None);
        });

        await Handle(new AssembleFiles(run.RunId));

        Assert.That(H.Destination.CallsStartingWith("abort"), Is.EqualTo(new[] { "abort daily/vip_001.csv upload-1", "abort daily/vip_002.csv upload-2" }));
        Assert.That(H.Destination.CallsStartingWith("abort-unrecorded"), Is.EqualTo(new[]
        {
            $"abort-unrecorded {run.ProgressId} daily/vip_001.csv keep theirs-1",
            $"abort-unrecorded {run.ProgressId} daily/vip_002.csv keep theirs-2",
        }));
    }

    [Test]
    public async Task An_assembly_that_only_shares_some_uploads_aborts_only_the_others()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());
        H.Spy.Before(nameof(IRunStore.SetOnceAsync), args =>
        {
            if (args[2] is not AssemblyPlan ours) return null;
            var theirs = ours with { Files = [ours.Files[0], ours.Files[1] with { UploadId = "theirs-2" }] };
            return H.Inner.SetOnceAsync(run.ProgressId, ExportStages.Documents.Assembly, theirs, None);
        });

        await Handle(new AssembleFiles(run.RunId));

        Assert.That(H.Destination.CallsStartingWith("abort"), Is.EqualTo(new[] { "abort daily/vip_002.csv upload-2" }));
    }

    [Test]
    public async Task AssembleFiles_delivered_again_reuses_the_recorded_uploads_and_sends_only_the_parts_not_yet_recorded()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());
        FailNextTransitionFrom(RunStatus.Assembling);
        Assert.That(() => Handle(new AssembleFiles(run.RunId)), Throws.TypeOf<IOException>());
        var assembly = await Assembly(run);
        await H.Store.RecordPartAsync(run.ProgressId, new PartRecord(1, new PartReceipt(2, 64, 64, "\"e\"", "c2hh")), None);
        var started = H.Destination.CallsStartingWith("start").Length;

        await Handle(new AssembleFiles(run.RunId));

        Assert.That(H.Destination.CallsStartingWith("start"), Has.Length.EqualTo(started), "no file is started again");
        var expected = assembly.Files.SelectMany(f => Enumerable.Range(1, f.PartCount).Select(p => (f.Index, p))).Where(p => p != (1, 2))
            .Select(p => new UploadPart(run.RunId, p.Index, p.p));
        Assert.That(H.Queue.Sent, Is.EqualTo(expected));
        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Uploading));
    }

    [Test]
    public async Task AssembleFiles_delivered_again_when_every_part_is_recorded_moves_the_run_to_completion()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec(), attempt: 2);
        FailNextTransitionFrom(RunStatus.Assembling);
        Assert.That(() => Handle(new AssembleFiles(run.RunId) { Attempt = 2 }), Throws.TypeOf<IOException>());
        foreach (var f in (await Assembly(run)).Files)
            for (var p = 1; p <= f.PartCount; p++)
                await H.Store.RecordPartAsync(run.ProgressId, new PartRecord(f.Index, new PartReceipt(p, (p - 1) * 64L, 64, "\"e\"", "c2hh")), None);

        await Handle(new AssembleFiles(run.RunId) { Attempt = 2 });

        Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new CompleteExport(run.RunId) { Attempt = 2 } }));
        Assert.That(H.Queue.Batches, Is.EqualTo(new[] { 1 }), "no empty batch of parts is sent");
        var moved = await H.GetRunAsync(run.RunId);
        Assert.That((moved.Status, moved.HandedOff), Is.EqualTo((RunStatus.Completing, true)));
    }

    [Test]
    public async Task The_last_part_delivered_again_after_its_record_moves_the_run_on_without_uploading_again()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        var assembly = await Assembly(run);
        var parts = assembly.Files.SelectMany(f => Enumerable.Range(1, f.PartCount).Select(p => new UploadPart(run.RunId, f.Index, p))).ToList();
        foreach (var part in parts.SkipLast(1)) await Handle(part);
        Assert.That(H.Queue.Sent, Is.Empty, "the run waits for its last part");
        FailNextTransitionFrom(RunStatus.Uploading);
        Assert.That(() => Handle(parts[^1]), Throws.TypeOf<IOException>());
        var uploads = H.Destination.CallsStartingWith("part").Length;

        await Handle(parts[^1]);

        Assert.That(H.Destination.CallsStartingWith("part"), Has.Length.EqualTo(uploads));
        Assert.That(H.Queue.Sent, Is.EqualTo(new[] { new CompleteExport(run.RunId) }));
        Assert.That(H.Stages.Progress.Parts, Is.EqualTo(parts.Count), "a part counts once");
    }

    [Test]
    public async Task A_part_delivered_again_before_the_last_one_sends_nothing()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        await Handle(new UploadPart(run.RunId, 1, 1));
        var uploads = H.Destination.CallsStartingWith("part").Length;

        await Handle(new UploadPart(run.RunId, 1, 1));

        Assert.That(H.Destination.CallsStartingWith("part"), Has.Length.EqualTo(uploads));
        Assert.That(H.Queue.Sent, Is.Empty);
    }

    /// <summary>
    /// Two source files of 25 rows, each with one malformed row: in a.csv one whose quoted field runs over two lines
    /// (line 26 and 27), in b.csv one on line 26.
    /// </summary>
    private string TwoFilesWithMalformedRows()
    {
        var folder = Path.Combine(H.Root, "source");
        Directory.CreateDirectory(folder);
        foreach (var (name, first, malformed) in new[] { ("a.csv", 0, "p99,\"two\nlines\",S1\n"), ("b.csv", 100, "p199,S1\n") })
        {
            var rows = Enumerable.Range(first, 24).Select(RunHarness.Row).Prepend("profileId,email,segments,updatedAt\n").Append(malformed);
            File.WriteAllText(Path.Combine(folder, name), string.Concat(rows));
        }
        return folder;
    }

    [Test]
    public async Task Skipped_rows_over_the_limit_fail_the_run_at_assembly_counting_lines_and_naming_the_first_in_source_order()
    {
        var folder = TwoFilesWithMalformedRows();
        var spec = H.Spec(folder, s => s with { OnMalformedRow = MalformedRowPolicy.Skip, MaxSkippedRows = 100, MaxSkippedFraction = 0.03 });

        var run = await H.ExportAsync(spec);

        Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(run.Error, Does.StartWith("Activation \"vip\" skipped 3 source lines as malformed, 5.9% of 51 lines, more than maxSkippedFraction (0.03)"));
        Assert.That(run.Error, Does.Contain($"(first: {Path.Combine(folder, "a.csv")}, line 26"));
        Assert.That(H.Destination.Calls, Is.Empty, "nothing is published");
    }

    [Test]
    public async Task Skipped_rows_within_the_limit_are_counted_in_the_manifest()
    {
        var folder = TwoFilesWithMalformedRows();
        var spec = H.Spec(folder, s => s with { OnMalformedRow = MalformedRowPolicy.Skip, MaxSkippedRows = 100, MaxSkippedFraction = 0.1 });

        var run = await H.ExportAsync(spec);

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var totals = EngineJson.Deserialize<Pipeline.Engine.Manifests.RunManifest>(System.Text.Encoding.UTF8.GetString(H.Destination.Objects[run.ManifestKey!])).Totals;
        Assert.That((totals.RowsRead, totals.RowsSkipped, totals.LinesSkipped), Is.EqualTo((50L, 2L, 3L)));
        Assert.That(totals.FirstSkippedRow, Does.StartWith($"{Path.Combine(folder, "a.csv")}, line 26"));
    }
}
