using Pipeline.Engine.Configuration;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

public class LocalPipelineTests
{
    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    private async Task<ExportRun> RunOnce(ExportSpec spec, string? state = null, string? staging = null)
    {
        var pipeline = await _ws.OpenPipelineAsync(state, staging);
        var runs = await pipeline.RunDueAsync([TestWorkspace.Activation(spec)], CancellationToken.None);
        Assert.That(runs, Has.Count.EqualTo(1));
        return runs[0];
    }

    [Test]
    public async Task Full_export_writes_members_in_source_order_with_a_header_and_a_manifest()
    {
        var source = _ws.WriteCsv("profiles.csv.gz", Profiles.Csv(5000), gzip: true);
        var run = await RunOnce(_ws.Spec(source, _ws.Output));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var files = TestWorkspace.Snapshot(_ws.Output);
        Assert.That(files.Keys, Is.EquivalentTo(new[] { "test_001.csv.gz", "test_20261123T020000Z.manifest.json" }));
        var text = TestWorkspace.Gunzip(files["test_001.csv.gz"]);
        var expected = "id,email,name\n" + string.Concat(Enumerable.Range(0, 5000).Where(Profiles.IsMember)
            .Select(i => Profiles.Row(i).Split(",S")[0].Replace(",S1;S2", "") + "\n"));
        Assert.That(text, Is.EqualTo(expected));

        var manifest = System.Text.Json.JsonSerializer.Deserialize<RunManifest>(files[run.ManifestKey!], Pipeline.Engine.EngineJson.Options)!;
        Assert.That(manifest.Totals.Rows, Is.EqualTo(Enumerable.Range(0, 5000).Count(Profiles.IsMember)));
        Assert.That(manifest.Totals.RowsRead, Is.EqualTo(5000));
        Assert.That(manifest.Files.Single().Sha256, Is.EqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(files["test_001.csv.gz"]))));
    }

    [Test]
    public async Task A_rerun_of_the_same_slot_produces_byte_identical_files()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(20_000));
        var first = Path.Combine(_ws.Root, "out1");
        var second = Path.Combine(_ws.Root, "out2");
        var one = await RunOnce(_ws.Spec(source, first), Path.Combine(_ws.Root, "s1.db"), Path.Combine(_ws.Root, "stage1"));
        var two = await RunOnce(_ws.Spec(source, second, s => s with { Tuning = s.Tuning with { Parallelism = 1 } }), Path.Combine(_ws.Root, "s2.db"), Path.Combine(_ws.Root, "stage2"));

        Assert.That(one.Status, Is.EqualTo(RunStatus.Succeeded), one.Error);
        Assert.That(two.Status, Is.EqualTo(RunStatus.Succeeded), two.Error);
        var a = TestWorkspace.Snapshot(first);
        var b = TestWorkspace.Snapshot(second);
        Assert.That(a.Keys, Is.EquivalentTo(new[] { "test_001.csv.gz", one.ManifestKey }), "two empty outputs would compare equal");
        Assert.That(b.Keys, Is.EqualTo(a.Keys));
        Assert.That(TestWorkspace.Gunzip(a["test_001.csv.gz"]).Split('\n').Length, Is.GreaterThan(10_000));
        Assert.That(b["test_001.csv.gz"], Is.EqualTo(a["test_001.csv.gz"]));
    }

    [Test]
    public async Task A_local_folder_takes_parts_smaller_than_S3s_minimum()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(100_000));
        var spec = _ws.Spec(source, _ws.Output, s => s with
        {
            Output = s.Output with { Compression = OutputCompression.None },
            Tuning = s.Tuning with { PartSize = ByteSize.MiB, ChunkSize = 256 * 1024 },
        });
        var pipeline = await _ws.OpenPipelineAsync();

        var run = (await pipeline.RunDueAsync([TestWorkspace.Activation(spec)], CancellationToken.None)).Single();

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var file = (await pipeline.Store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, CancellationToken.None))!.Files.Single();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(file.PartSize, Is.EqualTo(ByteSize.MiB), "the configured size, not raised to S3's 5 MiB");
            Assert.That(file.PartCount, Is.EqualTo((file.Length + ByteSize.MiB - 1) / ByteSize.MiB).And.GreaterThan(1));
            Assert.That(new FileInfo(Path.Combine(_ws.Output, file.Key)).Length, Is.EqualTo(file.Length));
        }
    }

    [Test]
    public async Task Large_exports_are_split_into_files_no_bigger_than_the_split_size()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(200_000));
        var spec = _ws.Spec(source, _ws.Output, s => s with
        {
            Output = s.Output with { Compression = OutputCompression.None },
            MaxFileSize = FileNameDefaults.MinPartSize,
            Tuning = s.Tuning with { ChunkSize = 256 * 1024 },
        });
        var run = await RunOnce(spec);

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var files = TestWorkspace.Snapshot(_ws.Output).Where(f => f.Key.EndsWith(".csv", StringComparison.Ordinal)).ToList();
        Assert.That(files, Has.Count.GreaterThan(1));
        Assert.That(files.Select(f => f.Value.Length), Has.All.LessThanOrEqualTo(FileNameDefaults.MinPartSize));
        var rows = files.SelectMany(f =>
        {
            var text = System.Text.Encoding.UTF8.GetString(f.Value);
            Assert.That(text, Does.StartWith("id,email,name\n"));
            return new[] { text["id,email,name\n".Length..] };
        });
        var expected = string.Concat(Enumerable.Range(0, 200_000).Where(Profiles.IsMember).Select(i => Profiles.Row(i).Split(",S")[0] + "\n"));
        Assert.That(string.Concat(rows), Is.EqualTo(expected));
    }

    [TestCase(OutputCompression.None)]
    [TestCase(OutputCompression.Gzip)]
    public async Task A_split_exports_manifest_lists_exactly_the_files_on_disk_with_their_rows_bytes_and_sha256(OutputCompression compression)
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(200_000));
        var run = await RunOnce(_ws.Spec(source, _ws.Output, s => s with
        {
            Output = s.Output with { Compression = compression },
            MaxFileSize = compression == OutputCompression.None ? 2 * ByteSize.MiB : 512 * 1024,
            Tuning = s.Tuning with { ChunkSize = 128 * 1024 },
        }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var disk = TestWorkspace.Snapshot(_ws.Output);
        var manifest = System.Text.Json.JsonSerializer.Deserialize<RunManifest>(disk[run.ManifestKey!], Pipeline.Engine.EngineJson.Options)!;
        Assert.That(manifest.Files, Has.Count.GreaterThanOrEqualTo(3), "the test needs a split export");
        // Nothing is published that the manifest doesn't list, and nothing it lists is missing.
        Assert.That(disk.Keys, Is.EquivalentTo(manifest.Files.Select(f => f.Key).Append(run.ManifestKey!)));
        Assert.That(manifest.Files.Select(f => f.Key), Is.EqualTo(Enumerable.Range(1, manifest.Files.Count).Select(i => $"test_{i:D3}{(compression == OutputCompression.Gzip ? ".csv.gz" : ".csv")}")));
        var rowStart = new System.Text.RegularExpressions.Regex("(?m)^p[0-9]{7},");
        var ids = new List<string>();
        foreach (var file in manifest.Files)
        {
            var bytes = disk[file.Key];
            Assert.That(file.Bytes, Is.EqualTo(bytes.Length), file.Key);
            Assert.That(file.Sha256, Is.EqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))), file.Key);
            var text = compression == OutputCompression.Gzip ? TestWorkspace.Gunzip(bytes) : System.Text.Encoding.UTF8.GetString(bytes);
            Assert.That(text, Does.StartWith("id,email,name\n"), file.Key);
            var rows = rowStart.Matches(text).Select(m => m.Value).ToList();
            Assert.That(file.Rows, Is.EqualTo(rows.Count), file.Key);
            ids.AddRange(rows);
        }
        Assert.That(ids, Is.EqualTo(Enumerable.Range(0, 200_000).Where(Profiles.IsMember).Select(i => $"p{i:D7},")), "every member once, in source order");
        Assert.That(manifest.Totals.Files, Is.EqualTo(manifest.Files.Count));
        Assert.That(manifest.Totals.Rows, Is.EqualTo(ids.Count));
        Assert.That(manifest.Totals.Bytes, Is.EqualTo(manifest.Files.Sum(f => (long)disk[f.Key].Length)));
        Assert.That(manifest.Totals.RowsRead, Is.EqualTo(200_000));
    }

    [Test]
    public async Task Incremental_exports_only_rows_updated_since_the_last_successful_run()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(3000));
        var spec = _ws.Spec(source, _ws.Output, s => s with
        {
            Mode = ExportMode.Incremental,
            Output = s.Output with { Compression = OutputCompression.None },
            FileName = "{runTime:yyyyMMddHH}_{index:1}",
            Fields = [new OutputField("profileId", "id"), new OutputField("updatedAt", "updatedAt")],
        });
        var activation = TestWorkspace.Activation(spec, cron: "0 */6 * * *");

        // Slot 2026-11-10T00:00Z: first incremental run is a full backfill up to the slot.
        _ws.Time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 11, 10, 1, 0, 0, TimeSpan.Zero));
        var pipeline = await _ws.OpenPipelineAsync();
        var first = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();
        // Slot 2026-11-10T12:00Z (missed 06:00 is skipped, not run twice): rows updated in (00:00, 12:00].
        _ws.Time.SetUtcNow(new DateTimeOffset(2026, 11, 10, 13, 0, 0, TimeSpan.Zero));
        var second = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();

        Assert.That(first.Status, Is.EqualTo(RunStatus.Succeeded), first.Error);
        Assert.That(second.Status, Is.EqualTo(RunStatus.Succeeded), second.Error);
        Assert.That(second.WatermarkFrom, Is.EqualTo(first.WatermarkTo));
        var firstSlot = new DateTimeOffset(2026, 11, 10, 0, 0, 0, TimeSpan.Zero);
        var secondSlot = firstSlot.AddHours(12);
        DateTimeOffset Updated(int i) => new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).AddHours(i % 500);
        static string Ids(string text) => string.Join(",", text.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')[0]));

        var files = TestWorkspace.Snapshot(_ws.Output);
        var expectedFirst = Enumerable.Range(0, 3000).Where(i => Profiles.IsMember(i) && Updated(i) <= firstSlot).Select(i => $"p{i:D7}");
        var expectedSecond = Enumerable.Range(0, 3000).Where(i => Profiles.IsMember(i) && Updated(i) > firstSlot && Updated(i) <= secondSlot).Select(i => $"p{i:D7}");
        Assert.That(Ids(System.Text.Encoding.UTF8.GetString(files["2026111000_1.csv"])), Is.EqualTo(string.Join(",", expectedFirst)));
        Assert.That(Ids(System.Text.Encoding.UTF8.GetString(files["2026111012_1.csv"])), Is.EqualTo(string.Join(",", expectedSecond)));
        Assert.That(expectedSecond, Is.Not.Empty);
    }

    [Test]
    public async Task A_malformed_row_fails_the_run_naming_file_and_line_and_publishes_nothing()
    {
        var csv = Profiles.Csv(100) + "p9999999,bad@example.com,\"unterminated,S1,2026-11-01T00:00:00Z\n" + Profiles.Csv(10, 200)[Profiles.Header.Length..];
        var source = _ws.WriteCsv("profiles.csv", csv);
        var run = await RunOnce(_ws.Spec(source, _ws.Output));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
        // 100 rows, 1 header line, and rows with i % 7 == 1 span two lines.
        var line = 2 + 100 + Enumerable.Range(0, 100).Count(i => i % 7 == 1);
        Assert.That(run.Error, Does.Contain(source).And.Contain($"line {line}"));
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.Empty);
    }

    [Test]
    public async Task Skipped_malformed_rows_are_counted_in_the_manifest()
    {
        var csv = Profiles.Csv(100) + "p9999999,only,three\n" + Profiles.Csv(10, 200)[Profiles.Header.Length..];
        var source = _ws.WriteCsv("profiles.csv", csv);
        var run = await RunOnce(_ws.Spec(source, _ws.Output, s => s with { OnMalformedRow = MalformedRowPolicy.Skip }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var manifest = System.Text.Json.JsonSerializer.Deserialize<RunManifest>(TestWorkspace.Snapshot(_ws.Output)[run.ManifestKey!], Pipeline.Engine.EngineJson.Options)!;
        Assert.That(manifest.Totals.RowsSkipped, Is.EqualTo(1));
        Assert.That(manifest.Totals.FirstSkippedRow, Does.Contain("has 3 columns, the header has 5"));
        Assert.That(manifest.Totals.Rows, Is.EqualTo(Enumerable.Range(0, 100).Concat(Enumerable.Range(200, 10)).Count(Profiles.IsMember)));
    }

    [Test]
    public async Task A_truncated_gzip_source_fails_the_run_at_once_naming_the_file_and_publishes_nothing()
    {
        var source = _ws.WriteCsv("profiles.csv.gz", Profiles.Csv(20_000), gzip: true);
        var whole = await File.ReadAllBytesAsync(source);
        var cut = whole.Length * 2 / 3;
        await File.WriteAllBytesAsync(source, whole[..cut]);

        var run = await RunOnce(_ws.Spec(source, _ws.Output));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
        // A permanent source problem: not retried, so the message is the reader's own, not "BuildSlice failed 3 times".
        Assert.That(run.Error, Does.StartWith($"{source}: truncated gzip stream after {cut} bytes"));
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.Empty);
    }

    [Test]
    public async Task A_gzip_source_with_a_bad_crc_fails_the_run_and_publishes_nothing()
    {
        var source = _ws.WriteCsv("profiles.csv.gz", Profiles.Csv(5000), gzip: true);
        var bytes = await File.ReadAllBytesAsync(source);
        bytes[^8] ^= 0x5A;
        await File.WriteAllBytesAsync(source, bytes);

        var run = await RunOnce(_ws.Spec(source, _ws.Output));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(run.Error, Does.StartWith($"{source}: corrupt gzip stream at byte {bytes.Length - 8}: the CRC-32 of member 1"));
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.Empty);
    }

    [Test]
    public async Task Under_skip_a_quote_that_swallows_many_rows_fails_the_run_and_publishes_nothing()
    {
        // The stray quote on line 42 pairs with the quote on line 2002: one malformed record of 1,961 lines.
        var csv = new System.Text.StringBuilder(Profiles.Header);
        for (var i = 0; i < 3000; i++)
            csv.Append(i switch { 40 => "p40,\"u40@example.com,n,S1,2026-11-01T00:00:00Z\n", 2000 => "p2000,u2000@example.com,\"n\",S1,2026-11-01T00:00:00Z\n", _ => $"p{i},u{i}@example.com,n,S1,2026-11-01T00:00:00Z\n" });
        var source = _ws.WriteCsv("profiles.csv", csv.ToString());

        var run = await RunOnce(_ws.Spec(source, _ws.Output, s => s with { OnMalformedRow = MalformedRowPolicy.Skip }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(run.Error, Does.StartWith("Activation \"test\" skipped ").And.Contain("1,961 source lines as malformed, more than maxSkippedRows (1,000)").And.Contain($": {source}, line 42: "));
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.Empty);
    }

    [Test]
    public async Task Under_skip_the_manifest_counts_the_lines_a_malformed_row_covered()
    {
        var csv = new System.Text.StringBuilder(Profiles.Header);
        for (var i = 0; i < 3000; i++)
            csv.Append(i switch { 40 => "p40,\"u40@example.com,n,S1,2026-11-01T00:00:00Z\n", 45 => "p45,u45@example.com,\"n\",S1,2026-11-01T00:00:00Z\n", _ => $"p{i},u{i}@example.com,n,S1,2026-11-01T00:00:00Z\n" });
        var source = _ws.WriteCsv("profiles.csv", csv.ToString());

        var run = await RunOnce(_ws.Spec(source, _ws.Output, s => s with { OnMalformedRow = MalformedRowPolicy.Skip }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var manifest = System.Text.Json.JsonSerializer.Deserialize<RunManifest>(TestWorkspace.Snapshot(_ws.Output)[run.ManifestKey!], Pipeline.Engine.EngineJson.Options)!;
        Assert.That((manifest.Totals.RowsSkipped, manifest.Totals.LinesSkipped, manifest.Totals.Rows), Is.EqualTo((1L, 6L, 2994L)));
    }

    [Test]
    public async Task An_unknown_field_fails_the_run_listing_the_columns()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(10));
        var run = await RunOnce(_ws.Spec(source, _ws.Output, s => s with { Fields = [new OutputField("emial", "email")] }));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(run.Error, Does.Contain("\"emial\" is not a column").And.Contain("profileId, email, name, segments, updatedAt"));
    }

    [Test]
    public async Task An_unwritable_destination_fails_the_run_with_a_clear_message()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(10));
        var notAFolder = _ws.WriteCsv("file-in-the-way", "x");
        var run = await RunOnce(_ws.Spec(source, notAFolder));

        Assert.That(run.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(run.Error, Does.Contain("Cannot write").And.Contain(notAFolder));
    }

    [Test]
    public async Task Every_message_delivered_twice_still_gives_the_same_bytes_and_one_manifest()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(20_000));
        var clean = Path.Combine(_ws.Root, "clean");
        var cleanRun = await RunOnce(_ws.Spec(source, clean), Path.Combine(_ws.Root, "clean.db"), Path.Combine(_ws.Root, "clean-stage"));
        Assert.That(cleanRun.Status, Is.EqualTo(RunStatus.Succeeded), cleanRun.Error);

        var pipeline = await _ws.OpenPipelineAsync();
        await pipeline.Scheduler.TickAsync([TestWorkspace.Activation(_ws.Spec(source, _ws.Output))], CancellationToken.None);
        await pipeline.DrainAsync(CancellationToken.None, async (message, ct) =>
        {
            await pipeline.Stages.HandleAsync(message, ct);
            await pipeline.Stages.HandleAsync(message, ct); // the queue redelivers
        });

        var run = (await pipeline.Store.ListRunsAsync("test", 10, CancellationToken.None)).Single();
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var output = TestWorkspace.Snapshot(_ws.Output);
        Assert.That(output.Keys, Is.EquivalentTo(new[] { "test_001.csv.gz", run.ManifestKey }), "two empty outputs would compare equal");
        Assert.That(TestWorkspace.Gunzip(output["test_001.csv.gz"]).Split('\n').Length, Is.GreaterThan(10_000));
        Assert.That(output, Is.EqualTo(TestWorkspace.Snapshot(clean)));
        Assert.That(Directory.Exists(Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder)), Is.False, "no orphaned uploads, no leftover folder");
    }

    // Not CompleteExport: crashing after it is a crash after the run ended. Crashes inside a stage: LocalPipelineCrashTests.
    private static readonly Type[] Stages = [typeof(PlanExport), typeof(BuildSlice), typeof(AssembleFiles), typeof(UploadPart)];

    [TestCaseSource(nameof(Stages))]
    public async Task A_crash_after_a_stage_then_a_restart_ends_with_the_same_bytes(Type crashAfter)
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(30_000));
        var clean = Path.Combine(_ws.Root, "clean");
        var cleanRun = await RunOnce(_ws.Spec(source, clean, s => s with { Tuning = s.Tuning with { PartSize = FileNameDefaults.MinPartSize } }), Path.Combine(_ws.Root, "clean.db"), Path.Combine(_ws.Root, "clean-stage"));
        Assert.That(cleanRun.Status, Is.EqualTo(RunStatus.Succeeded), cleanRun.Error);

        var spec = _ws.Spec(source, _ws.Output, s => s with { Tuning = s.Tuning with { PartSize = FileNameDefaults.MinPartSize } });
        var activation = TestWorkspace.Activation(spec);
        using (var crash = new CancellationTokenSource())
        {
            using var doomed = await _ws.OpenPipelineAsync(); // disposed with the "process": its run locks go with it
            await doomed.Scheduler.TickAsync([activation], CancellationToken.None);
            // The "process" dies right after the first message of this stage is handled: nothing after it runs.
            Assert.That(async () => await doomed.DrainAsync(crash.Token, async (message, ct) =>
            {
                await doomed.Stages.HandleAsync(message, ct);
                if (message.GetType() == crashAfter) await crash.CancelAsync();
            }), Throws.InstanceOf<OperationCanceledException>());
            var doomedRun = (await doomed.Store.ListRunsAsync("test", 10, CancellationToken.None)).Single();
            Assert.That(doomedRun.Status, Is.Not.EqualTo(RunStatus.Succeeded), "the crash came after the run had finished");
        }

        var restarted = await _ws.OpenPipelineAsync();
        await restarted.RunDueAsync([activation], CancellationToken.None);
        var run = (await restarted.Store.ListRunsAsync("test", 10, CancellationToken.None)).Single();

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var output = TestWorkspace.Snapshot(_ws.Output);
        Assert.That(output.Keys, Is.EquivalentTo(new[] { "test_001.csv.gz", run.ManifestKey }));
        Assert.That(output, Is.EqualTo(TestWorkspace.Snapshot(clean)));
    }

    [Test]
    public async Task A_slot_already_scheduled_does_not_run_again()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(10));
        var activation = TestWorkspace.Activation(_ws.Spec(source, _ws.Output));
        var pipeline = await _ws.OpenPipelineAsync();

        var first = await pipeline.RunDueAsync([activation], CancellationToken.None);
        var second = await pipeline.RunDueAsync([activation], CancellationToken.None);

        Assert.That(first, Has.Count.EqualTo(1));
        Assert.That(second, Is.Empty);
    }

    [Test]
    public async Task Failing_a_run_again_cleans_up_what_a_failure_cut_short_left()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(30_000));
        var activation = TestWorkspace.Activation(_ws.Spec(source, _ws.Output, s => s with { Tuning = s.Tuning with { PartSize = FileNameDefaults.MinPartSize } }));
        using var pipeline = await _ws.OpenPipelineAsync();
        await pipeline.Scheduler.TickAsync([activation], CancellationToken.None);
        // The run gets as far as starting its upload, then stops: chunks staged, a partial file at the destination.
        await pipeline.DrainAsync(CancellationToken.None, async (message, ct) =>
        {
            if (message is not UploadPart) await pipeline.Stages.HandleAsync(message, ct);
        });
        var run = (await pipeline.Store.ListRunsAsync("test", 10, CancellationToken.None)).Single();
        Assert.That(Directory.GetFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Not.Empty);
        Assert.That(Directory.GetFiles(Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder)), Is.Not.Empty);
        // A poison handler marked it failed and was stopped (a shutdown, a crash) before it aborted and deleted anything.
        Assert.That(await pipeline.Store.TryMarkFailedAsync(run.RunId, run.Attempt, "poisoned", _ws.Time.GetUtcNow(), CancellationToken.None), Is.True);

        await pipeline.Stages.FailRunAsync(run.RunId, run.Attempt, "poisoned", CancellationToken.None); // the poison message, redelivered

        Assert.That(Directory.GetFiles(_ws.Staging, "*", SearchOption.AllDirectories), Is.Empty, "staging deleted");
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.Empty, "the partial upload aborted, nothing published");
        Assert.That((await pipeline.Store.GetRunAsync(run.RunId, CancellationToken.None))!.Error, Is.EqualTo("poisoned"));
    }
}
