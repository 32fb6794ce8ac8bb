using System.Diagnostics;
using System.IO.Compression;

namespace Pipeline.Cli.Tests;

[Category("Integration")]
public class CliTests
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

    private static async Task<string> GzipTest(string file)
    {
        using var p = Process.Start(new ProcessStartInfo("gzip", ["-t", file]) { RedirectStandardError = true })!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return p.ExitCode == 0 ? "ok" : err;
    }

    [Test]
    public async Task Sample_then_run_once_exports_what_is_due_as_valid_gzip_with_manifests()
    {
        var sample = await CliProcess.RunAsync(_dir, "sample", "--profiles", "20000", "--out", "demo");
        Assert.That(sample.ExitCode, Is.Zero, sample.ToString());

        var run = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--once");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());

        var files = Directory.GetFiles(Path.Combine(_dir, "demo", "out"), "*.gz", SearchOption.AllDirectories);
        Assert.That(files, Has.Length.EqualTo(2));
        foreach (var f in files) Assert.That(await GzipTest(f), Is.EqualTo("ok"));
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "demo", "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(2));

        var again = await CliProcess.RunAsync(_dir, "run", "--config", "demo/pipeline.json", "--once");
        Assert.That(again.Stdout, Does.Contain("Nothing is due."), again.ToString());
    }

    [Test]
    public async Task Export_prints_files_rows_and_time_and_reads_parquet_like_csv()
    {
        Assert.That((await CliProcess.RunAsync(_dir, "sample", "--profiles", "5000", "--out", "csv")).ExitCode, Is.Zero);
        Assert.That((await CliProcess.RunAsync(_dir, "sample", "--profiles", "5000", "--out", "pq", "--format", "parquet")).ExitCode, Is.Zero);

        var fromCsv = await CliProcess.RunAsync(_dir, "export", "--source", "csv/profiles.csv.gz", "--segment", "S1", "--fields", "profileId,email,lastName:last_name", "--to", "out-csv", "--file-name", "s1_{index:2}");
        var fromParquet = await CliProcess.RunAsync(_dir, "export", "--source", "pq/profiles.parquet", "--segment", "S1", "--fields", "profileId,email,lastName:last_name", "--to", "out-pq", "--file-name", "s1_{index:2}");

        Assert.That(fromCsv.ExitCode, Is.Zero, fromCsv.ToString());
        Assert.That(fromParquet.ExitCode, Is.Zero, fromParquet.ToString());
        Assert.That(fromCsv.Stdout, Does.Contain("s1_01.csv.gz").And.Contain("rows exported of 5,000 read"));
        static string Read(string path)
        {
            using var z = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            return new StreamReader(z).ReadToEnd();
        }
        var csvText = Read(Path.Combine(_dir, "out-csv", "s1_01.csv.gz"));
        Assert.That(csvText, Does.StartWith("profileId,email,last_name\n"));
        Assert.That(Read(Path.Combine(_dir, "out-pq", "s1_01.csv.gz")), Is.EqualTo(csvText));
    }

    [Test]
    public async Task Bad_usage_exits_2_and_says_what_is_missing()
    {
        var result = await CliProcess.RunAsync(_dir, "export", "--source", "x.csv", "--fields", "a", "--to", "out");
        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Stderr, Does.Contain("--segment"));

        var size = await CliProcess.RunAsync(_dir, "export", "--source", "x.csv", "--segment", "S1", "--fields", "a", "--to", "out", "--max-file-size", "1MB");
        Assert.That(size.ExitCode, Is.EqualTo(2));
        Assert.That(size.Stderr, Does.Contain("--max-file-size"));
    }

    [Test]
    public async Task Validate_lists_every_config_problem_with_its_json_path_and_exits_2()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "pipeline.json"), """
            {
              "sources": { "p": { "path": "missing.csv.gz" } },
              "destinations": { "d": { "type": "local", "path": "out" } },
              "activations": [
                { "id": "a", "source": "p", "segment": "S1", "fields": ["profileId"], "destination": "nope",
                  "schedule": { "cron": "61 * * * *", "timeZone": "Mars/Olympus" }, "fromat": "csv" }
              ]
            }
            """);
        var result = await CliProcess.RunAsync(_dir, "validate");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("$.activations[0].destination")
            .And.Contain("$.activations[0].schedule.timeZone").And.Contain("$.activations[0].schedule.cron")
            .And.Contain("$.activations[0].fromat").And.Contain("Did you mean \"format\""));
    }

    [Test]
    public async Task Validate_reports_unknown_fields_against_the_real_source_columns()
    {
        Assert.That((await CliProcess.RunAsync(_dir, "sample", "--profiles", "10", "--out", ".")).ExitCode, Is.Zero);
        var config = await File.ReadAllTextAsync(Path.Combine(_dir, "pipeline.json"));
        await File.WriteAllTextAsync(Path.Combine(_dir, "pipeline.json"), config.Replace("\"email\",\n        {", "\"emial\",\n        {", StringComparison.Ordinal));

        var result = await CliProcess.RunAsync(_dir, "validate");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain("$.activations[0].fields[1]").And.Contain("\"emial\" is not a column"));
    }

    [Test]
    public async Task Export_of_a_file_with_a_malformed_row_exits_1_naming_file_and_line()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "p.csv"), "profileId,segments\np1,S1\np2,\"S1\np3,S1\n");
        var result = await CliProcess.RunAsync(_dir, "export", "--source", "p.csv", "--segment", "S1", "--fields", "profileId", "--to", "out");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Contain("p.csv, line 3"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "out")) ? Directory.GetFiles(Path.Combine(_dir, "out")) : [], Is.Empty);
    }

    [TestCase("truncated")]
    [TestCase("corrupt")]
    public async Task Export_of_a_damaged_csv_gz_exits_1_naming_the_file_and_publishes_nothing(string damage)
    {
        Assert.That((await CliProcess.RunAsync(_dir, "sample", "--profiles", "20000", "--out", "demo")).ExitCode, Is.Zero);
        var source = Path.Combine(_dir, "demo", "profiles.csv.gz");
        var bytes = await File.ReadAllBytesAsync(source);
        if (damage == "truncated") bytes = bytes[..(bytes.Length / 2)];
        else bytes[^8] ^= 0x01; // the last member's CRC-32
        await File.WriteAllBytesAsync(source, bytes);

        var result = await CliProcess.RunAsync(_dir, "export", "--source", "demo/profiles.csv.gz", "--segment", "S1", "--fields", "profileId,email", "--to", "out");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Contain(damage == "truncated"
            ? $"{source}: truncated gzip stream after {bytes.Length} bytes"
            : $"{source}: corrupt gzip stream at byte {bytes.Length - 8}: the CRC-32 of member"), result.ToString());
        Assert.That(Directory.Exists(Path.Combine(_dir, "out")) ? Directory.GetFiles(Path.Combine(_dir, "out"), "*", SearchOption.AllDirectories) : [], Is.Empty);
    }

    [Test]
    public async Task Plan_estimates_chunks_files_and_parts_without_writing()
    {
        Assert.That((await CliProcess.RunAsync(_dir, "sample", "--profiles", "20000", "--out", ".")).ExitCode, Is.Zero);
        var result = await CliProcess.RunAsync(_dir, "plan", "s1-daily");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout, Does.Contain("Estimate:").And.Contain("part(s) of"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "out")), Is.False);
    }

    [Test]
    public async Task A_killed_run_resumes_on_restart_and_ends_with_the_same_bytes()
    {
        Assert.That((await CliProcess.RunAsync(_dir, "sample", "--profiles", "400000", "--out", "a")).ExitCode, Is.Zero);
        // A fixed slot keeps file names equal across both runs; small chunks give the kill many places to land.
        var config = (await File.ReadAllTextAsync(Path.Combine(_dir, "a", "pipeline.json")))
            .Replace("\"daily\": \"02:00\"", "\"once\": \"2026-01-01T02:00\"", StringComparison.Ordinal)
            .Replace("\"state\"", "\"tuning\": { \"chunkSize\": \"256KiB\", \"parallelism\": 1 },\n  \"state\"", StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(_dir, "a", "pipeline.json"), config);
        Directory.CreateDirectory(Path.Combine(_dir, "b"));
        File.Copy(Path.Combine(_dir, "a", "profiles.csv.gz"), Path.Combine(_dir, "b", "profiles.csv.gz"));
        await File.WriteAllTextAsync(Path.Combine(_dir, "b", "pipeline.json"), config);

        var clean = await CliProcess.RunAsync(_dir, "run", "--config", "b/pipeline.json", "--once");
        Assert.That(clean.ExitCode, Is.Zero, clean.ToString());

        // Kill the process as soon as it has staged some chunks (mid-build), then run again.
        var staging = Path.Combine(_dir, "a", ".pipeline", "staging");
        using (var victim = Process.Start(CliProcess.StartInfo(_dir, "run", "--config", "a/pipeline.json", "--once"))!)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (!victim.HasExited && !(Directory.Exists(staging) && Directory.EnumerateFiles(staging, "*.part", SearchOption.AllDirectories).Skip(3).Any()))
                await Task.Delay(10, timeout.Token); // polling for a condition, not waiting for time
            victim.Kill(entireProcessTree: true);
            await victim.WaitForExitAsync(timeout.Token);
        }
        var resumed = await CliProcess.RunAsync(_dir, "run", "--config", "a/pipeline.json", "--once");
        Assert.That(resumed.ExitCode, Is.Zero, resumed.ToString());

        static SortedDictionary<string, string> Hashes(string root) => new(
            Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Where(f => !f.Contains("/.incomplete/", StringComparison.Ordinal) && !f.EndsWith(".manifest.json", StringComparison.Ordinal))
                .ToDictionary(f => Path.GetRelativePath(root, f), f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))),
            StringComparer.Ordinal);
        Assert.That(Hashes(Path.Combine(_dir, "a", "out")), Is.EqualTo(Hashes(Path.Combine(_dir, "b", "out"))));
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "a", "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(2));
    }
}
