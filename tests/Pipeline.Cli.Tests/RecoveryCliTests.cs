using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pipeline.Cli.Tests;

/// <summary>`pipeline retry`, `run --activation --slot`, summaries written from recorded state, and two `run` processes at once.</summary>
[Category("Integration")]
public partial class RecoveryCliTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Demo => Path.Combine(_dir, "demo");

    private async Task SampleAsync(int profiles = 2000)
    {
        var sample = await CliProcess.RunAsync(_dir, "sample", "--profiles", profiles.ToString(CultureInfo.InvariantCulture), "--out", "demo");
        Assert.That(sample.ExitCode, Is.Zero, sample.ToString());
    }

    [GeneratedRegex(@"FAILED s1-daily \(run (?<id>[^)]+)\)")]
    private static partial Regex FailedLine();

    [Test]
    public async Task A_failed_run_names_the_retry_command_and_retry_delivers_it_as_the_next_attempt()
    {
        await SampleAsync();
        var snapshot = Path.Combine(Demo, "profiles.csv.gz");
        File.Move(snapshot, snapshot + ".away");

        var failed = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--once");
        Assert.That(failed.ExitCode, Is.EqualTo(1), failed.ToString());
        var runId = FailedLine().Match(failed.Stderr).Groups["id"].Value;
        Assert.That(runId, Is.Not.Empty, failed.ToString());
        Assert.That(failed.Stderr, Does.Contain($"Retry now: pipeline retry {runId} --config demo/pipeline.json"));

        File.Move(snapshot + ".away", snapshot);
        var retried = await CliProcess.RunAsync(_dir, "retry", runId, "--config", "demo/pipeline.json");

        Assert.That(retried.ExitCode, Is.Zero, retried.ToString());
        Assert.That(retried.Stdout, Does.Contain($"OK s1-daily (run {runId})"));
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(Demo, ".pipeline", "runs", runId + ".json")));
        Assert.That(summary.RootElement.GetProperty("status").GetString(), Is.EqualTo("succeeded"));
        Assert.That(summary.RootElement.GetProperty("attempt").GetInt32(), Is.EqualTo(2));
        Assert.That(Directory.GetFiles(Path.Combine(Demo, "out", "s1-daily"), "*.manifest.json"), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Retry_of_an_unknown_run_exits_2_and_says_where_run_ids_are()
    {
        await SampleAsync(100);

        var result = await CliProcess.RunAsync(_dir, "retry", "s1-daily-nope", "--config", "demo/pipeline.json");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("There is no run s1-daily-nope").And.Contain("runs"));
    }

    private static DateTime Yesterday => DateTime.UtcNow.Date.AddDays(-1);

    private static string BerlinUtc(DateTime localBerlin) =>
        TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(localBerlin, DateTimeKind.Unspecified), TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin")).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [Test]
    public async Task Run_with_a_time_that_is_not_a_slot_exits_2_naming_the_nearest_slots()
    {
        await SampleAsync(100);
        var day = Yesterday;

        var result = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--activation", "s1-daily",
            "--slot", day.ToString("yyyy-MM-dd'T'02:30", CultureInfo.InvariantCulture));

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("is not a slot of s1-daily")
            .And.Contain($"{BerlinUtc(day.AddHours(2))} before, {BerlinUtc(day.AddDays(1).AddHours(2))} after"));
    }

    [Test]
    public async Task Run_with_a_future_slot_exits_2()
    {
        await SampleAsync(100);

        var result = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--activation", "s1-daily",
            "--slot", DateTime.UtcNow.Date.AddDays(3).ToString("yyyy-MM-dd'T'02:00", CultureInfo.InvariantCulture));

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("is in the future"));
    }

    [Test]
    public async Task Run_with_a_slot_exports_that_slot_now()
    {
        await SampleAsync(500);
        var day = Yesterday.AddDays(-2);

        var result = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--activation", "s1-daily",
            "--slot", day.ToString("yyyy-MM-dd'T'02:00", CultureInfo.InvariantCulture));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout, Does.Contain("OK s1-daily"));
        var slotName = BerlinUtc(day.AddHours(2)).Replace("-", "", StringComparison.Ordinal).Replace(":", "", StringComparison.Ordinal)[..15] + "Z";
        Assert.That(File.Exists(Path.Combine(Demo, "out", "s1-daily", $"s1-daily_{slotName}.manifest.json")), Is.True,
            string.Join(", ", Directory.GetFiles(Path.Combine(Demo, "out", "s1-daily"))));
    }

    [Test]
    public async Task A_missing_run_summary_is_written_again_from_recorded_state()
    {
        await SampleAsync(500);
        var first = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--once");
        Assert.That(first.ExitCode, Is.Zero, first.ToString());
        var runs = Path.Combine(Demo, ".pipeline", "runs");
        var summaries = Directory.GetFiles(runs, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.That(summaries, Has.Count.EqualTo(2));
        // The process was killed after the runs succeeded and before their summaries were written.
        foreach (var f in Directory.GetFiles(runs)) File.Delete(f);

        var again = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--once");

        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(Directory.GetFiles(runs, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal), Is.EqualTo(summaries));
        foreach (var f in Directory.GetFiles(runs, "*.json"))
        {
            using var summary = JsonDocument.Parse(File.ReadAllText(f));
            Assert.That(summary.RootElement.GetProperty("status").GetString(), Is.EqualTo("succeeded"));
        }
    }

    [Test]
    public async Task Two_run_processes_on_one_config_both_exit_0_deliver_once_and_leave_no_staging()
    {
        await SampleAsync(300_000);

        var both = await Task.WhenAll(
            CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--once"),
            CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--once"));

        foreach (var result in both)
        {
            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("FAILED"));
        }
        Assert.That(Directory.GetFiles(Path.Combine(Demo, "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(2));
        var staging = Path.Combine(Demo, ".pipeline", "staging");
        Assert.That(Directory.Exists(staging) ? Directory.GetFiles(staging, "*", SearchOption.AllDirectories) : [], Is.Empty);
        Assert.That(Directory.GetFiles(Path.Combine(Demo, ".pipeline", "runs"), "*.json"), Has.Length.EqualTo(2));
    }
}
