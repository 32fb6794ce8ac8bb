using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Runs;

/// <summary>ExportStages message by message: what each stage records, sends and delivers.</summary>
public class ExportStagesTests : RunHarnessFixture
{
    private const string Header = "id,email\n";

    /// <summary>The output rows of profiles [first, first + count): members only, in source order.</summary>
    private static string Rows(int first, int count) =>
        string.Concat(Enumerable.Range(first, count).Where(RunHarness.IsMember).Select(i => $"p{i},user{i}@example.com\n"));

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    [Test]
    public async Task A_run_goes_through_every_stage_and_publishes_its_files_then_the_manifest()
    {
        var run = await H.ExportAsync(H.Spec(TwoSourceFiles()));

        var file = "daily/vip_001.csv";
        var manifestKey = "daily/vip_20261207T020000Z.manifest.json";
        using (Assert.EnterMultipleScope())
        {
            Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
            Assert.That(run.ManifestKey, Is.EqualTo(manifestKey));
            Assert.That(run.CompletedAt, Is.EqualTo(H.Time.GetUtcNow()));
            Assert.That(H.Destination.Objects.Keys, Is.EquivalentTo(new[] { file, manifestKey }));
            Assert.That(Text(H.Destination.Objects[file]), Is.EqualTo(Header + Rows(0, 70)));
            Assert.That(H.Destination.Calls.Last(), Is.EqualTo("put " + manifestKey), "the manifest goes last");
            Assert.That(H.Destination.Properties[file], Is.EqualTo(new ObjectProperties("text/csv; charset=utf-8", null)));
            Assert.That(H.Destination.Properties[manifestKey], Is.EqualTo(new ObjectProperties("application/json", null)));
            Assert.That(H.StagedFiles(), Is.Empty, "staging is deleted once the run succeeded");
        }

        var assembly = await H.Store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, CancellationToken.None);
        Assert.That(Text(H.Destination.Objects[manifestKey]), Is.EqualTo(Text(RunManifest.Create(run, assembly!, run.CompletedAt!.Value).ToUtf8())));
        var manifest = EngineJson.Deserialize<RunManifest>(Text(H.Destination.Objects[manifestKey]));
        var bytes = H.Destination.Objects[file];
        using (Assert.EnterMultipleScope())
        {
            Assert.That(manifest.Files, Is.EqualTo(new[] { new ManifestFile(file, Enumerable.Range(0, 70).Count(RunHarness.IsMember), bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes))) }));
            Assert.That(manifest.Totals.RowsRead, Is.EqualTo(70));
        }
    }

    [Test]
    public async Task Each_stage_sends_the_next_ones_messages_for_the_same_attempt()
    {
        var run = await H.ExportAsync(H.Spec(TwoSourceFiles()));

        var length = Header.Length + Rows(0, 70).Length;
        var parts = (length + 63) / 64;
        var expected = new List<StageMessage> { new PlanExport(run.RunId), new BuildSlice(run.RunId, 0), new BuildSlice(run.RunId, 1), new AssembleFiles(run.RunId) };
        expected.AddRange(Enumerable.Range(1, parts).Select(p => new UploadPart(run.RunId, 1, p)));
        expected.Add(new CompleteExport(run.RunId));
        Assert.That(H.Queue.Sent, Is.EqualTo(expected));
    }

    [Test]
    public async Task Parts_are_cut_at_the_part_size_across_the_header_and_the_chunks()
    {
        var run = await H.ExportAsync(H.Spec(TwoSourceFiles()));

        var length = Header.Length + Rows(0, 70).Length;
        var parts = H.Destination.CallsStartingWith("part");
        Assert.That(parts, Is.EqualTo(Enumerable.Range(1, (length + 63) / 64)
            .Select(p => $"part daily/vip_001.csv {p} at {(p - 1) * 64} {Math.Min(64, length - (p - 1) * 64)}")));
        Assert.That(H.Destination.CallsStartingWith("complete").Single(), Is.EqualTo($"complete daily/vip_001.csv parts {string.Join(",", Enumerable.Range(1, parts.Length))}"));
        Assert.That(H.Stages.Progress.BytesDelivered, Is.EqualTo(length));
        Assert.That(H.Stages.Progress.Parts, Is.EqualTo(parts.Length));
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded));
    }

    [Test]
    public async Task The_plan_records_every_source_file_in_name_order()
    {
        var folder = TwoSourceFiles();
        var run = await H.CreateRunAsync(H.Spec(folder));

        await H.Stages.HandleAsync(new PlanExport(run.RunId), CancellationToken.None);

        var plan = await H.Store.GetDocumentAsync<ExportPlan>(run.ProgressId, ExportStages.Documents.Plan, CancellationToken.None);
        var a = Path.Combine(folder, "a.csv");
        var b = Path.Combine(folder, "b.csv");
        Assert.That(plan!.Slices, Is.EqualTo(new[]
        {
            new SlicePlan(0, a, new FileInfo(a).Length, SourceFormat.Csv, false, FileSourceStore.Entry(a).Version),
            new SlicePlan(1, b, new FileInfo(b).Length, SourceFormat.Csv, false, FileSourceStore.Entry(b).Version),
        }), "each slice is pinned to the version listed");
        Assert.That(plan.PlannedAt, Is.EqualTo(H.Time.GetUtcNow()));
        var stored = await H.GetRunAsync(run.RunId);
        Assert.That(stored.Status, Is.EqualTo(RunStatus.Building));
        Assert.That(stored.HandedOff, Is.True);
        Assert.That(H.StageLog.At(LogLevel.Information), Has.Member($"Run {run.RunId} (vip) planned: 2 source file(s), {new FileInfo(a).Length + new FileInfo(b).Length} bytes"));
    }

    [Test]
    public async Task Files_hold_whole_chunks_up_to_exactly_the_split_size()
    {
        var folder = TwoSourceFiles();
        var oneFile = Header.Length + Rows(0, 70).Length;

        var fits = await H.ExportAsync(H.Spec(folder, s => s with { MaxFileSize = oneFile }));
        Assert.That(fits.Status, Is.EqualTo(RunStatus.Succeeded), fits.Error);
        Assert.That(H.Destination.Objects.Keys.Where(k => k.EndsWith(".csv", StringComparison.Ordinal)), Is.EqualTo(new[] { "daily/vip_001.csv" }));
    }

    [Test]
    public async Task A_file_one_byte_over_the_split_size_is_split_between_chunks_each_file_with_its_header()
    {
        var folder = TwoSourceFiles();
        var oneFile = Header.Length + Rows(0, 70).Length;

        var run = await H.ExportAsync(H.Spec(folder, s => s with { MaxFileSize = oneFile - 1 }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var objects = H.Destination.Objects;
        Assert.That(objects.Keys.Where(k => k.EndsWith(".csv", StringComparison.Ordinal)).Order(StringComparer.Ordinal), Is.EqualTo(new[] { "daily/vip_001.csv", "daily/vip_002.csv" }));
        Assert.That(Text(objects["daily/vip_001.csv"]), Is.EqualTo(Header + Rows(0, 40)));
        Assert.That(Text(objects["daily/vip_002.csv"]), Is.EqualTo(Header + Rows(40, 30)));
        var manifest = EngineJson.Deserialize<RunManifest>(Text(objects[run.ManifestKey!]));
        Assert.That(manifest.Files.Select(f => (f.Key, f.Rows)), Is.EqualTo(new[]
        {
            ("daily/vip_001.csv", (long)Enumerable.Range(0, 40).Count(RunHarness.IsMember)),
            ("daily/vip_002.csv", (long)Enumerable.Range(40, 30).Count(RunHarness.IsMember)),
        }));
        var assembly = (await H.Store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, CancellationToken.None))!;
        Assert.That(H.StageLog.At(LogLevel.Information), Has.Member(
            $"Run {run.RunId} assembled: 2 file(s), {assembly.Files.Sum(f => f.PartCount)} part(s), {objects["daily/vip_001.csv"].Length + objects["daily/vip_002.csv"].Length} bytes"));
        Assert.That(H.StageLog.At(LogLevel.Information), Has.Member(
            $"Run {run.RunId} (vip) succeeded: 2 file(s), {Enumerable.Range(0, 70).Count(RunHarness.IsMember)} rows, {objects["daily/vip_001.csv"].Length + objects["daily/vip_002.csv"].Length} bytes"));
    }

    [Test]
    public async Task A_source_file_without_members_adds_no_file_and_no_empty_piece()
    {
        H.WriteSource("a.csv", 40);
        var none = new StringBuilder("profileId,email,segments,updatedAt\n");
        foreach (var i in new[] { 1, 4, 7 }) none.Append(RunHarness.Row(i));
        File.WriteAllText(Path.Combine(H.Root, "source", "b.csv"), none.ToString());

        var run = await H.ExportAsync(H.Spec(Path.Combine(H.Root, "source"), s => s with { MaxFileSize = Header.Length + Rows(0, 40).Length }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(H.Destination.Objects.Keys.Where(k => k.EndsWith(".csv", StringComparison.Ordinal)), Is.EqualTo(new[] { "daily/vip_001.csv" }));
        Assert.That(Text(H.Destination.Objects["daily/vip_001.csv"]), Is.EqualTo(Header + Rows(0, 40)));
    }

    [Test]
    public async Task An_export_of_no_row_delivers_one_file_holding_the_header()
    {
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 40), s => s with { SegmentId = "S9" }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(Text(H.Destination.Objects["daily/vip_001.csv"]), Is.EqualTo(Header));
        Assert.That(EngineJson.Deserialize<RunManifest>(Text(H.Destination.Objects[run.ManifestKey!])).Warnings, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task An_empty_file_without_a_header_is_still_uploaded_as_one_part()
    {
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 40), s => s with { SegmentId = "S9", Output = s.Output with { Header = false } }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(H.Destination.CallsStartingWith("part"), Is.EqualTo(new[] { "part daily/vip_001.csv 1 at 0 0" }));
        Assert.That(H.Destination.Objects["daily/vip_001.csv"], Is.Empty);
    }

    [Test]
    public async Task Without_a_header_the_file_is_the_rows_alone_and_nothing_is_staged_for_a_header()
    {
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 40), s => s with { Output = s.Output with { Header = false } }));

        Assert.That(Text(H.Destination.Objects["daily/vip_001.csv"]), Is.EqualTo(Rows(0, 40)));
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded));
        Assert.That(H.Staging.Writes.Select(w => w.Key), Has.None.EqualTo(StagingKeys.Header(run.ProgressId)));
    }

    [Test]
    public async Task A_gzip_export_of_no_row_without_a_header_is_still_a_gzip_file()
    {
        // Not a 0-byte file, which gzip -t and zcat refuse ("unexpected end of file").
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 40), s => s with
        {
            SegmentId = "S9",
            Output = s.Output with { Compression = OutputCompression.Gzip, Header = false },
        }));

        var bytes = H.Destination.Objects["daily/vip_001.csv.gz"];
        Assert.That(bytes.Take(2), Is.EqualTo(new byte[] { 0x1f, 0x8b }), "an empty gzip member, not an empty file");
        Assert.That(Gunzip(bytes), Is.Empty);
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded));
    }

    [Test]
    public async Task A_gzip_export_with_rows_and_without_a_header_is_the_chunks_alone()
    {
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 40), s => s with { Output = s.Output with { Compression = OutputCompression.Gzip, Header = false } }));

        var bytes = H.Destination.Objects["daily/vip_001.csv.gz"];
        var chunks = await H.Store.ListChunksAsync(run.ProgressId, CancellationToken.None);
        Assert.That(Gunzip(bytes), Is.EqualTo(Rows(0, 40)));
        Assert.That(bytes.Length, Is.EqualTo(chunks.Sum(c => c.Bytes)), "no empty member or header in front of the rows");
        Assert.That(H.Staging.Writes.Select(w => w.Key), Has.None.EqualTo(StagingKeys.Header(run.ProgressId)));
    }

    [Test]
    public async Task A_file_of_exactly_two_part_sizes_is_uploaded_in_two_parts()
    {
        var length = Header.Length + Rows(0, 40).Length;
        Assert.That(length % 2, Is.Zero, "the test needs an even length");

        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 40), s => s with { Tuning = s.Tuning with { PartSize = length / 2 } }));

        Assert.That(H.Destination.CallsStartingWith("part"), Is.EqualTo(new[] { $"part daily/vip_001.csv 1 at 0 {length / 2}", $"part daily/vip_001.csv 2 at {length / 2} {length / 2}" }));
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded));
    }

    [Test]
    public async Task Stages_count_their_work_in_the_progress_they_are_given()
    {
        var progress = new ExportProgress();
        var stages = new ExportStages(H.Store, H.Staging, H.Destinations, H.Queue, H.Time, H.StageLog, progress, buildParallelism: 1);
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles()));
        await StageHandOff.SendPendingAsync(H.Store, H.Queue, run, CancellationToken.None);

        while (H.Queue.TryTake(out var message)) await stages.HandleAsync(message, CancellationToken.None);

        Assert.That(stages.Progress, Is.SameAs(progress));
        Assert.That((progress.RowsRead, progress.BytesDelivered), Is.EqualTo((70L, (long)(Header.Length + Rows(0, 70).Length))));
    }

    [Test]
    public async Task A_retried_run_goes_through_every_stage_with_messages_of_its_own_attempt()
    {
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles()));
        await H.Store.TryMarkFailedAsync(run.RunId, 1, "boom", H.Time.GetUtcNow(), CancellationToken.None);
        await H.Scheduler.RetryAsync(await H.GetRunAsync(run.RunId), run.Spec, CancellationToken.None);

        var done = await H.DrainAsync(run.RunId);

        Assert.That((done.Status, done.Attempt), Is.EqualTo((RunStatus.Succeeded, 2)), done.Error);
        Assert.That(H.Queue.Sent.Select(m => m.GetType().Name).Distinct(), Is.EqualTo(new[] { "PlanExport", "BuildSlice", "AssembleFiles", "UploadPart", "CompleteExport" }));
        Assert.That(H.Queue.Sent.Select(m => m.Attempt), Has.All.EqualTo(2));
        Assert.That(Text(H.Destination.Objects["daily/vip_001.csv"]), Is.EqualTo(Header + Rows(0, 70)));
    }

    [Test]
    public async Task A_gzip_export_is_one_valid_gzip_file_sent_with_its_content_encoding()
    {
        var run = await H.ExportAsync(H.Spec(TwoSourceFiles(), s => s with { Output = s.Output with { Compression = OutputCompression.Gzip, Format = OutputFormat.Tsv } }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var file = "daily/vip_001.txt.gz";
        Assert.That(Gunzip(H.Destination.Objects[file]), Is.EqualTo((Header + Rows(0, 70)).Replace(',', '\t')));
        Assert.That(H.Destination.Properties[file], Is.EqualTo(new ObjectProperties("text/tab-separated-values; charset=utf-8", "gzip")));
    }

    [Test]
    public async Task A_gzip_export_without_a_header_is_still_valid_gzip()
    {
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 40), s => s with { Output = s.Output with { Compression = OutputCompression.Gzip, Header = false } }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(Gunzip(H.Destination.Objects["daily/vip_001.csv.gz"]), Is.EqualTo(Rows(0, 40)));
    }

    [Test]
    public async Task A_header_cell_that_looks_like_a_formula_is_written_as_configured()
    {
        // Formula protection guards data cells; the header names are the operator's own.
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 4), s => s with
        {
            Fields = [new OutputField("profileId", "=id"), new OutputField("email", "email")],
            Output = s.Output with { FormulaProtection = true },
        }));

        Assert.That(Text(H.Destination.Objects["daily/vip_001.csv"]), Does.StartWith("=id,email\n"));
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded));
    }

    [Test]
    public async Task Every_stage_logs_inside_a_scope_naming_its_run_and_its_slice_or_part()
    {
        var run = await H.ExportAsync(H.Spec(TwoSourceFiles()));

        var lines = H.StageLog.Lines.ToList();
        Assert.That(lines.Single(l => l.Message.StartsWith($"Run {run.RunId} slice 1 built", StringComparison.Ordinal)).Scopes, Is.EqualTo($"RunId={run.RunId}, Slice=1"));
        Assert.That(lines.Single(l => l.Message.StartsWith($"Run {run.RunId} file daily/vip_001.csv part 2 delivered", StringComparison.Ordinal)).Scopes, Is.EqualTo($"RunId={run.RunId}, File=1, Part=2"));
        Assert.That(lines.Single(l => l.Message.Contains("planned", StringComparison.Ordinal)).Scopes, Is.EqualTo($"RunId={run.RunId}"));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(H.StageLog.At(LogLevel.Debug), Has.Member($"Run {run.RunId} slice 0 built in 1 chunk(s)"));
            Assert.That(H.StageLog.At(LogLevel.Debug), Has.Member($"Run {run.RunId} file daily/vip_001.csv part 2 delivered (64 bytes)"));
        }
    }

    private string[] DeliveredFiles() =>
        H.Destination.Objects.Keys.Where(k => !k.EndsWith(".manifest.json", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();

    [Test]
    public async Task A_chunk_bigger_than_the_split_size_gets_a_file_of_its_own_and_no_file_is_left_empty()
    {
        var run = await H.ExportAsync(H.Spec(TwoSourceFiles(), s => s with { MaxFileSize = 10 }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(DeliveredFiles(), Is.EqualTo(new[] { "daily/vip_001.csv", "daily/vip_002.csv" }));
        Assert.That(Text(H.Destination.Objects["daily/vip_001.csv"]), Is.EqualTo(Header + Rows(0, 40)));
    }

    [Test]
    public async Task After_a_split_the_next_file_counts_its_size_from_its_header_again()
    {
        TwoSourceFiles();
        var folder = Path.GetDirectoryName(H.WriteSource("c.csv", 20, first: 70))!;

        var run = await H.ExportAsync(H.Spec(folder, s => s with { MaxFileSize = Header.Length + Rows(40, 30).Length + Rows(70, 20).Length }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(DeliveredFiles(), Is.EqualTo(new[] { "daily/vip_001.csv", "daily/vip_002.csv" }));
        Assert.That(Text(H.Destination.Objects["daily/vip_002.csv"]), Is.EqualTo(Header + Rows(40, 50)));
    }

    [Test]
    public async Task The_chunks_of_a_slice_are_delivered_in_source_order()
    {
        var run = await H.ExportAsync(H.Spec(H.WriteSource("a.csv", 200), s => s with { Tuning = s.Tuning with { ChunkSize = 512 } }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That((await H.Store.ListChunksAsync(run.ProgressId, CancellationToken.None)).Count, Is.GreaterThan(5), "the slice is cut into several chunks");
        Assert.That(Text(H.Destination.Objects["daily/vip_001.csv"]), Is.EqualTo(Header + Rows(0, 200)));
    }

    [Test]
    public async Task A_part_reads_only_the_staged_pieces_it_covers()
    {
        // Parts of 9 bytes, the length of the header: part 2 starts exactly where the header ends.
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles(), s => s with { Tuning = s.Tuning with { PartSize = Header.Length } }));
        await StageHandOff.SendPendingAsync(H.Store, H.Queue, run, CancellationToken.None);
        while (H.Queue.TryTake(out var message))
        {
            if (message is UploadPart { Part: 1 }) H.Staging.Reads.Clear();
            await H.Stages.HandleAsync(message, CancellationToken.None);
        }
        var headerKey = StagingKeys.Header(run.ProgressId);

        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Succeeded));
        var reads = H.Staging.Reads.ToList();
        // The destination reads each part in blocks of 7 bytes.
        Assert.That(reads.Where(r => r.Key == headerKey), Is.EqualTo(new[] { (headerKey, 0L, 7L), (headerKey, 7L, 2L) }), "the header is read by part 1 only");
        Assert.That(reads.Select(r => r.Length), Has.All.GreaterThan(0L));
        Assert.That(reads.Sum(r => r.Length), Is.EqualTo(Header.Length + Rows(0, 70).Length));
    }

    [Test]
    public async Task Stages_without_a_build_parallelism_build_one_slice_piece_per_processor()
    {
        var stages = new ExportStages(H.Store, H.Staging, H.Destinations, H.Queue, H.Time, H.StageLog);
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles()));
        await StageHandOff.SendPendingAsync(H.Store, H.Queue, run, CancellationToken.None);

        while (H.Queue.TryTake(out var message)) await stages.HandleAsync(message, CancellationToken.None);

        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Succeeded));
    }

    private static string Gunzip(byte[] bytes)
    {
        using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
