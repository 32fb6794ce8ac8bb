using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Engine.Configuration;

namespace Pipeline.Cli.Tests;

/// <summary>What the CLI prints must be true: estimates, slot times, exit codes, warnings and hints.</summary>
[Category("Integration")]
public partial class CliMessagesTests
{
    private static readonly TimeZoneInfo Berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-cli-messages-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        try { if (_dir is not null && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private async Task SampleAsync(int profiles, string folder = ".")
    {
        var sample = await CliProcess.RunAsync(_dir, "sample", "--profiles", profiles.ToString(CultureInfo.InvariantCulture), "--out", folder);
        Assert.That(sample.ExitCode, Is.Zero, sample.ToString());
    }

    private async Task EditConfigAsync(Func<string, string> edit)
    {
        var path = Path.Combine(_dir, "pipeline.json");
        await File.WriteAllTextAsync(path, edit(await File.ReadAllTextAsync(path)));
    }

    private static long Number(string text) => long.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    private static long Bytes(string text) => ByteSize.TryParse(text.Replace(" ", "", StringComparison.Ordinal), out var b) ? b : throw new FormatException(text);

    [GeneratedRegex(@"Estimate: ~(?<read>[\d,]+) rows read, ~(?<kept>[\d,]+) exported, ~(?<bytes>[\d.]+ \w+) in")]
    private static partial Regex EstimateLine();

    [GeneratedRegex(@"^  file (?<key>\S+)  ~", RegexOptions.Multiline)]
    private static partial Regex PlannedFile();

    [GeneratedRegex(@"^  manifest (?<key>\S+)$", RegexOptions.Multiline)]
    private static partial Regex PlannedManifest();

    [GeneratedRegex(@"(?<rows>[\d,]+) rows exported of (?<read>[\d,]+) read")]
    private static partial Regex RunTotals();

    [TestCase(1_000_000)]
    [TestCase(5_000_000)]
    public async Task Plan_estimates_a_csv_gz_within_20_percent_of_the_real_run_and_names_its_files(int profiles)
    {
        await SampleAsync(profiles);
        await EditConfigAsync(c => c.Replace("\"id\": \"s2-changes-6h\",", "\"id\": \"s2-changes-6h\", \"enabled\": false,", StringComparison.Ordinal));

        var plan = await CliProcess.RunAsync(_dir, "plan", "s1-daily");
        var run = await CliProcess.RunAsync(_dir, "run", "--once");

        Assert.That(plan.ExitCode, Is.Zero, plan.ToString());
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var estimate = EstimateLine().Match(plan.Stdout);
        var actual = RunTotals().Match(run.Stdout);
        Assert.That(estimate.Success && actual.Success, Is.True, plan + "\n" + run);
        var outFolder = Path.Combine(_dir, "out");
        var dataFiles = Directory.GetFiles(outFolder, "*.csv.gz", SearchOption.AllDirectories);
        var actualBytes = dataFiles.Sum(f => new FileInfo(f).Length);
        using (Assert.EnterMultipleScope())
        {
            Assert.That((double)Number(estimate.Groups["read"].Value), Is.EqualTo(profiles).Within(20).Percent, "rows read");
            Assert.That((double)Number(estimate.Groups["kept"].Value), Is.EqualTo(Number(actual.Groups["rows"].Value)).Within(20).Percent, "rows exported");
            Assert.That((double)Bytes(estimate.Groups["bytes"].Value), Is.EqualTo(actualBytes).Within(20).Percent, "output bytes");
            // The plan names the files and the manifest of the slot `run` then exported, spelt the same way.
            Assert.That(PlannedFile().Matches(plan.Stdout).Select(m => Path.Combine(outFolder, m.Groups["key"].Value)), Is.EquivalentTo(dataFiles));
            Assert.That(File.Exists(Path.Combine(outFolder, PlannedManifest().Match(plan.Stdout).Groups["key"].Value)), Is.True, plan.Stdout);
        }
    }

    [Test]
    public async Task Runs_lists_recorded_runs_with_slot_rows_and_bytes_and_names_an_unknown_activation()
    {
        await SampleAsync(20_000);
        var run = await CliProcess.RunAsync(_dir, "run", "--once");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());

        var runs = await CliProcess.RunAsync(_dir, "runs", "--activation", "s1-daily");
        var typo = await CliProcess.RunAsync(_dir, "runs", "--activation", "s1-dialy");

        Assert.That(runs.ExitCode, Is.Zero, runs.ToString());
        var exported = Number(RunTotals().Match(run.Stdout).Groups["rows"].Value);
        var bytes = Directory.GetFiles(Path.Combine(_dir, "out"), "*.csv.gz", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        var line = RunsLine().Match(runs.Stdout);
        Assert.That(line.Success, Is.True, runs.ToString());
        using (Assert.EnterMultipleScope())
        {
            Assert.That(line.Groups["status"].Value, Is.EqualTo("succeeded"));
            Assert.That(Number(line.Groups["rows"].Value), Is.EqualTo(exported), runs.Stdout);
            Assert.That(line.Groups["bytes"].Value, Is.EqualTo(ByteSize.Format(bytes)), runs.Stdout);
            Assert.That(runs.Stdout, Does.Not.Contain("s2-changes-6h"));
            Assert.That(typo.ExitCode, Is.EqualTo(2), typo.ToString());
            Assert.That(typo.Stderr, Does.Contain("did you mean \"s1-daily\"?"));
        }
    }

    [GeneratedRegex(@"^(?<status>\w+) +s1-daily  slot \d{4}-\d\d-\d\d \d\d:\d\d Europe/Berlin \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)  attempt 1  [\d.]+ s  (?<rows>[\d,]+) rows  (?<bytes>[\d.]+ \w+)  run ", RegexOptions.Multiline)]
    private static partial Regex RunsLine();

    [Test]
    public async Task Plan_measures_a_symlinked_source_by_its_target()
    {
        await SampleAsync(20_000, "data");
        File.CreateSymbolicLink(Path.Combine(_dir, "data", "linked.csv.gz"), Path.Combine(_dir, "data", "profiles.csv.gz"));
        await File.WriteAllTextAsync(Path.Combine(_dir, "pipeline.json"), (await File.ReadAllTextAsync(Path.Combine(_dir, "data", "pipeline.json")))
            .Replace("\"path\": \"profiles.csv.gz\"", "\"path\": \"data/linked.csv.gz\"", StringComparison.Ordinal));

        var plan = await CliProcess.RunAsync(_dir, "plan", "s1-daily");

        Assert.That(plan.ExitCode, Is.Zero, plan.ToString());
        var size = ByteSize.Format(new FileInfo(Path.Combine(_dir, "data", "profiles.csv.gz")).Length);
        Assert.That(plan.Stdout, Does.Contain($"Source: 1 file(s), {size}").And.Contain($"linked.csv.gz  {size}"));
    }

    [GeneratedRegex(@"s1-daily: .*next (?<local>\d{4}-\d\d-\d\d \d\d:\d\d) Europe/Berlin \((?<utc>\d{4}-\d\d-\d\d \d\d:\d\d) UTC\)")]
    private static partial Regex BerlinSlot();

    [Test]
    public async Task Validate_and_run_print_the_next_slot_in_its_zone_and_in_utc_both_correct()
    {
        await SampleAsync(100);

        var validate = await CliProcess.RunAsync(_dir, "validate");
        var plan = await CliProcess.RunAsync(_dir, "plan", "s1-daily");

        Assert.That(validate.ExitCode, Is.Zero, validate.ToString());
        var slot = BerlinSlot().Match(validate.Stdout);
        Assert.That(slot.Success, Is.True, validate.Stdout);
        var local = DateTime.ParseExact(slot.Groups["local"].Value, "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        var utc = DateTime.ParseExact(slot.Groups["utc"].Value, "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(local.TimeOfDay, Is.EqualTo(TimeSpan.FromHours(2)), "daily at 02:00 Berlin time");
            Assert.That(utc, Is.EqualTo(TimeZoneInfo.ConvertTimeToUtc(local, Berlin)));
            Assert.That(plan.Stdout, Does.Contain($"next {slot.Groups["local"].Value} Europe/Berlin ({slot.Groups["utc"].Value} UTC)"));
        }
    }

    [Test]
    public async Task A_once_in_the_past_gets_a_validate_warning_with_its_date_and_run_skips_it_with_a_warning()
    {
        await SampleAsync(100);
        await EditConfigAsync(c => c.Replace("\"daily\": \"02:00\"", "\"once\": \"2020-01-01T00:00\"", StringComparison.Ordinal)
            .Replace("\"id\": \"s2-changes-6h\",", "\"id\": \"s2-changes-6h\", \"enabled\": false,", StringComparison.Ordinal));

        var validate = await CliProcess.RunAsync(_dir, "validate");
        var run = await CliProcess.RunAsync(_dir, "run", "--once");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(validate.ExitCode, Is.Zero, validate.ToString());
            Assert.That(validate.Stdout, Does.Contain("s1-daily: segment S1, once at 2020-01-01 00:00 Europe/Berlin (2019-12-31 23:00 UTC), in the past: never runs"));
            Assert.That(validate.Stderr, Does.Contain("warning: $.activations[0].schedule.once: 2020-01-01 00:00 Europe/Berlin (2019-12-31 23:00 UTC) is more than 24 hours in the past"));
            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            Assert.That(run.Stdout, Does.Contain("Nothing is due."));
            Assert.That(run.Stderr, Does.Contain("s1-daily is skipped").And.Contain("2019-12-31 23:00 UTC"));
            // validate probes (and so creates) the destination folder; nothing may be in it.
            Assert.That(Directory.GetFiles(Path.Combine(_dir, "out"), "*", SearchOption.AllDirectories), Is.Empty, "nothing was exported");
        }
    }

    [Test]
    public async Task An_unknown_field_exits_2_with_a_did_you_mean_in_export_plan_and_validate_before_anything_runs()
    {
        await SampleAsync(100);
        await EditConfigAsync(c => c.Replace("\"email\",\n        {", "\"emial\",\n        {", StringComparison.Ordinal));

        var export = await CliProcess.RunAsync(_dir, "export", "--source", "profiles.csv.gz", "--segment", "S1", "--fields", "profileId,emial", "--to", "adhoc");
        var plan = await CliProcess.RunAsync(_dir, "plan", "s1-daily");
        var validate = await CliProcess.RunAsync(_dir, "validate");

        using (Assert.EnterMultipleScope())
        {
            foreach (var result in new[] { export, plan, validate })
            {
                Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
                Assert.That(result.Stderr, Does.Contain("\"emial\" is not a column").And.Contain("did you mean \"email\"?"), result.ToString());
            }
            Assert.That(export.Stderr, Does.StartWith("error: --fields").And.Not.Contain("activation"), "an ad-hoc export has no activation");
            Assert.That(plan.Stderr, Does.Contain("$.activations[0]"));
            Assert.That(Directory.Exists(Path.Combine(_dir, "adhoc")), Is.False, "checked before the export started");
        }
    }

    [Test]
    public async Task A_missing_source_file_exits_2_naming_the_option()
    {
        var result = await CliProcess.RunAsync(_dir, "export", "--source", "nope.csv.gz", "--segment", "S1", "--fields", "profileId", "--to", "out");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.StartWith("error: --source: ").And.Contain("nope.csv.gz does not exist"));
    }

    [Test]
    public async Task A_segment_that_matches_no_row_warns_on_stderr_and_in_the_manifest()
    {
        await SampleAsync(1000);

        var result = await CliProcess.RunAsync(_dir, "export", "--source", "profiles.csv.gz", "--segment", "S999", "--fields", "profileId", "--to", "out");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stderr, Does.Contain("warning: ").And.Contain("Segment S999 matched no row of the 1,000 read"));
        var manifest = await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(_dir, "out"), "*.manifest.json").Single());
        Assert.That(manifest, Does.Contain("\"warnings\": [").And.Contain("Segment S999 matched no row of the 1,000 read"));
    }

    [Test]
    public async Task Verbose_logs_carry_the_scope_as_fields()
    {
        await SampleAsync(100);

        var result = await CliProcess.RunAsync(_dir, "export", "--source", "profiles.csv.gz", "--segment", "S1", "--fields", "profileId", "--to", "out", "-v");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stderr, Does.Contain("RunId=adhoc-").And.Not.Contain("Dictionary`2"));
    }

    [Test]
    public async Task A_mistyped_command_is_named_with_a_did_you_mean_and_nothing_else()
    {
        var result = await CliProcess.RunAsync(_dir, "exprot");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Stderr, Does.StartWith("error: \"exprot\" is not a command; did you mean \"export\"?").And.Not.Contain("Required command"));
    }

    [Test]
    public async Task Help_says_what_the_tool_does_today()
    {
        var result = await CliProcess.RunAsync(_dir, "--help");

        Assert.That(result.Stdout, Does.Contain("Amazon S3").And.Not.Contain("S3 next"));
    }

    [Test]
    public async Task Sample_prints_a_next_command_that_works_here_and_writes_readable_json()
    {
        var sample = await CliProcess.RunAsync(_dir, "sample", "--profiles", "100", "--out", "demo");

        Assert.That(sample.ExitCode, Is.Zero, sample.ToString());
        // The tests start pipeline.dll with `dotnet`, and no `pipeline` is on PATH: the hint must say so.
        var next = sample.Stdout.Split('\n').Single(l => l.StartsWith("Next: ", StringComparison.Ordinal)).Trim();
        Assert.That(next, Is.EqualTo($"Next: dotnet {Path.Combine(AppContext.BaseDirectory, "pipeline.dll")} run --config demo/pipeline.json --once"));
        var json = await File.ReadAllTextAsync(Path.Combine(_dir, "demo", "pipeline.json"));
        Assert.That(json, Does.Contain("'T'").And.Not.Contain("\\u0027"));
    }
}
