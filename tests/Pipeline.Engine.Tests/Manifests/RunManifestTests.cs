using System.Text;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Tests.Manifests;

public class RunManifestTests
{
    private static readonly DateTimeOffset Slot = new(2026, 12, 7, 2, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset CreatedAt = new(2026, 12, 7, 2, 0, 5, TimeSpan.Zero);
    private static readonly DateTimeOffset CompletedAt = new(2026, 12, 7, 2, 3, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset WatermarkFrom = new(2026, 12, 6, 2, 0, 0, TimeSpan.Zero);

    private static ExportRun Run(ExportMode mode, FormatSpec? output = null, string prefix = "") => new()
    {
        RunId = "vip-run",
        ActivationId = "vip",
        Slot = Slot,
        CreatedAt = CreatedAt,
        // Set in both modes: the manifest, not the run record, decides what a full run reports.
        WatermarkFrom = WatermarkFrom,
        WatermarkTo = Slot,
        Spec = new ExportSpec
        {
            ActivationId = "vip",
            Source = new SourceSpec { Path = "/data/profiles.csv", SegmentsColumn = "audiences" },
            SegmentId = "S7",
            Fields = [new OutputField("profileId", "id"), new OutputField("email", "mail")],
            Output = output ?? new FormatSpec(),
            Destination = new DestinationSpec { Name = "out", Type = DestinationSpec.LocalType, Location = "/data/out", Prefix = prefix },
            Mode = mode,
        },
    };

    private static FilePlan File(int index, long rows, long length) =>
        new(index, $"vip_{index:000}.csv.gz", $"upload-{index}", length, rows, $"sha-{index}", [], length, 1);

    private static AssemblyPlan Assembly(long rowsRead = 1000, long rowsSkipped = 3, long linesSkipped = 5, params FilePlan[] files) =>
        new(files, rowsRead, rowsSkipped, "line 17: 2 columns of 3", linesSkipped);

    [Test]
    public void An_incremental_manifest_lists_each_file_the_window_the_format_and_the_totals()
    {
        var output = new FormatSpec { Format = OutputFormat.Tsv, Compression = OutputCompression.None, Header = false, LineEnding = "\r\n", FormulaProtection = true };

        var manifest = RunManifest.Create(Run(ExportMode.Incremental, output), Assembly(1000, 3, 5, File(1, 400, 9000), File(2, 250, 6000)), CompletedAt);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(manifest.Version, Is.EqualTo(1));
            Assert.That(manifest.RunId, Is.EqualTo("vip-run"));
            Assert.That(manifest.ActivationId, Is.EqualTo("vip"));
            Assert.That(manifest.SegmentId, Is.EqualTo("S7"));
            Assert.That(manifest.Mode, Is.EqualTo("incremental"));
            Assert.That(manifest.ScheduledFor, Is.EqualTo(Slot));
            Assert.That(manifest.UpdatedAfter, Is.EqualTo(WatermarkFrom));
            Assert.That(manifest.UpdatedUpTo, Is.EqualTo(Slot));
            Assert.That(manifest.StartedAt, Is.EqualTo(CreatedAt));
            Assert.That(manifest.CompletedAt, Is.EqualTo(CompletedAt));
            Assert.That(manifest.Format, Is.EqualTo(new ManifestFormat("tsv", "none", "\t", false, "crlf", "utf-8", true)));
            Assert.That(manifest.Schema, Is.EqualTo(new[] { new ManifestColumn("id", "profileId"), new ManifestColumn("mail", "email") }));
            Assert.That(manifest.Files, Is.EqualTo(new[] { new ManifestFile("vip_001.csv.gz", 400, 9000, "sha-1"), new ManifestFile("vip_002.csv.gz", 250, 6000, "sha-2") }));
            Assert.That(manifest.Totals, Is.EqualTo(new ManifestTotals(2, 650, 15_000, 1000, 3, 5, "line 17: 2 columns of 3")));
            Assert.That(manifest.Warnings, Is.Null);
        }
    }

    [Test]
    public void A_full_manifest_says_full_and_has_no_upper_bound_of_the_window()
    {
        var manifest = RunManifest.Create(Run(ExportMode.Full), Assembly(10, 0, 0, File(1, 7, 100)), CompletedAt);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(manifest.Mode, Is.EqualTo("full"));
            Assert.That(manifest.UpdatedUpTo, Is.Null);
            Assert.That(manifest.Format, Is.EqualTo(new ManifestFormat("csv", "gzip", ",", true, "lf", "utf-8", false)));
            Assert.That(manifest.Warnings, Is.Null, "rows were exported");
        }
    }

    [Test]
    public void Skipped_lines_are_never_reported_below_the_skipped_rows()
    {
        // Stores written before lines were counted have 0 lines for skipped rows.
        var manifest = RunManifest.Create(Run(ExportMode.Full), Assembly(100, 4, 0, File(1, 7, 100)), CompletedAt);

        Assert.That(manifest.Totals.LinesSkipped, Is.EqualTo(4));
    }

    [Test]
    public void A_full_export_of_no_row_warns_about_the_segment_id()
    {
        var manifest = RunManifest.Create(Run(ExportMode.Full), Assembly(12_345, 0, 0, File(1, 0, 20), File(2, 0, 20)), CompletedAt);

        Assert.That(manifest.Warnings, Is.EqualTo(new[]
        {
            "Segment S7 matched no row of the 12,345 read, so every file holds only a header. Check the segment id against the source column audiences.",
        }));
    }

    [Test]
    public void An_incremental_export_of_no_row_is_normal_and_has_no_warning()
    {
        var manifest = RunManifest.Create(Run(ExportMode.Incremental), Assembly(500, 0, 0, File(1, 0, 20)), CompletedAt);

        Assert.That(manifest.Warnings, Is.Null);
    }

    [Test]
    public void The_manifest_key_is_the_prefix_the_activation_and_the_slot_in_utc()
    {
        var run = Run(ExportMode.Full, prefix: "daily/") with { Slot = new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.FromHours(1)) };

        Assert.That(RunManifest.KeyFor(run), Is.EqualTo("daily/vip_20261207T020000Z.manifest.json"));
    }

    [Test]
    public void The_manifest_is_indented_camel_case_json_without_null_fields()
    {
        var manifest = RunManifest.Create(Run(ExportMode.Full), Assembly(10, 0, 0, File(1, 7, 100)), CompletedAt);

        var json = Encoding.UTF8.GetString(manifest.ToUtf8());

        using (Assert.EnterMultipleScope())
        {
            Assert.That(json, Does.StartWith("{" + Environment.NewLine + "  \"version\": 1," + Environment.NewLine + "  \"runId\": \"vip-run\","));
            Assert.That(json, Does.Contain("\"lineEnding\": \"lf\""));
            Assert.That(json, Does.Not.Contain("updatedUpTo").And.Not.Contain("warnings"));
            Assert.That(EngineJson.Deserialize<RunManifest>(json).Totals, Is.EqualTo(manifest.Totals));
        }
    }
}
