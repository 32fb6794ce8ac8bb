using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Azure.Storage.Blobs;
using Pipeline.TestKit.Emulators;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The CLI on the Azure backend: `PipelineStorage` points at Azurite, `config push` publishes,
/// `run --once` drives the stages through the Storage queues, delivering to fauxqs or a folder (a fresh Azurite for each test that needs one); the SQLite backend
/// runs the same activation as the reference for the bytes.
/// </summary>
[Category("Integration")]
public class CliAzureTests
{
    /// <summary>Base64 like an account key, and easy to find in output: it must never appear there.</summary>
    private const string FakeKey = "FakeAccountKeyDoNotPrintFakeAccountKeyDoNotPrintFakeAccountKeyDoNotPrintFakeAccountKey==";

    // Null until started: teardown must not add an error on top of the setup's own.
    private EmulatorProcess? _s3;
    private AmazonS3Client? _client;
    private EmulatorProcess? _azurite;
    private string? _dir;
    private string _bucket = null!;

    private AmazonS3Client Client => _client!;
    private AzuriteEndpoints Azurite => _azurite?.Azurite ?? throw new InvalidOperationException("Call StartAzuriteAsync first.");
    private string Dir => _dir!;

    [OneTimeSetUp]
    public async Task StartS3()
    {
        _s3 = await EmulatorProcess.StartAsync(EmulatorKind.Fauxqs, CancellationToken.None);
        _client = new AmazonS3Client(new BasicAWSCredentials("test", "test"),
            new AmazonS3Config { ServiceURL = _s3.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
    }

    [OneTimeTearDown]
    public async Task StopS3()
    {
        _client?.Dispose();
        _client = null;
        if (_s3 is not null) await _s3.DisposeAsync();
        _s3 = null;
    }

    [SetUp]
    public async Task SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-cli-azure-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _bucket = "t" + Guid.NewGuid().ToString("N")[..12];
        await Client.PutBucketAsync(_bucket);
    }

    /// <summary>One account per test that needs one: no run, queue message or published config of another test is in it.</summary>
    private async Task StartAzuriteAsync() => _azurite = await EmulatorProcess.StartAsync(EmulatorKind.Azurite, CancellationToken.None);

    [TearDown]
    public async Task TearDown()
    {
        if (_azurite is not null) await _azurite.DisposeAsync();
        _azurite = null;
        try { if (_dir is not null && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private Dictionary<string, string> Environment(string? storage = null) => new()
    {
        ["PipelineStorage"] = storage ?? Azurite.ConnectionString,
        ["AWS_ACCESS_KEY_ID"] = "test",
        ["AWS_SECRET_ACCESS_KEY"] = "test",
        ["AWS_REGION"] = "us-east-1",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    /// <summary>A slot an hour ago that stays put while the test runs, so both backends export the same slot.</summary>
    private static readonly string OnceSlot = DateTime.UtcNow.AddHours(-1).ToString("yyyy-MM-dd'T'HH:00", CultureInfo.InvariantCulture);

    /// <summary>A folder with the sample snapshot and a pipeline.json whose one activation delivers to <paramref name="destination"/>.</summary>
    private async Task<string> PipelineAsync(string name, string destination, int profiles = 20_000, string tuning = "")
    {
        var folder = Path.Combine(Dir, name);
        // One snapshot per size, copied: both backends read the same bytes, and it is generated once.
        var snapshot = Path.Combine(Dir, "snapshot-" + profiles.ToString(CultureInfo.InvariantCulture));
        if (!Directory.Exists(snapshot))
        {
            var sample = await CliProcess.RunAsync(Dir, "sample", "--profiles", profiles.ToString(CultureInfo.InvariantCulture), "--out", snapshot);
            Assert.That(sample.ExitCode, Is.Zero, sample.ToString());
        }
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(snapshot, "profiles.csv.gz"), Path.Combine(folder, "profiles.csv.gz"));
        await File.WriteAllTextAsync(Path.Combine(folder, "pipeline.json"), $$"""
            {
              {{tuning}}
              "sources": { "profiles": { "path": "profiles.csv.gz" } },
              "destinations": { "out": {{destination}} },
              "activations": [
                {
                  "id": "s1-once", "source": "profiles", "segment": "S1",
                  "fields": ["profileId", "email", { "source": "lastName", "header": "last_name" }, "city"],
                  "destination": "out", "prefix": "s1/",
                  "schedule": { "once": "{{OnceSlot}}" }
                }
              ]
            }
            """);
        return folder;
    }

    private string S3Destination(string prefix) =>
        $$"""{ "type": "s3", "bucket": "{{_bucket}}", "prefix": "{{prefix}}", "region": "us-east-1", "endpoint": "{{_s3!.Endpoint}}" }""";

    private const string FolderDestination = """{ "type": "local", "path": "out" }""";

    /// <summary>The SQLite backend's output for the same activation: relative path to bytes, manifests left out (they hold times).</summary>
    private async Task<SortedDictionary<string, byte[]>> ReferenceAsync(int profiles = 20_000, string tuning = "")
    {
        var folder = await PipelineAsync("sqlite", FolderDestination, profiles, tuning);
        var run = await CliProcess.RunAsync(folder, "run", "--once");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Stdout, Does.Not.StartWith("Backend:"), "the embedded default prints what it always printed");
        return DataFiles(Path.Combine(folder, "out"));
    }

    private static SortedDictionary<string, byte[]> DataFiles(string root) => new(
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".manifest.json", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(root, f).Replace('\\', '/'), File.ReadAllBytes),
        StringComparer.Ordinal);

    private async Task<List<string>> StagingBlobsAsync()
    {
        var container = new BlobServiceClient(Azurite.ConnectionString).GetBlobContainerClient("staging");
        var names = new List<string>();
        if (!await container.ExistsAsync()) return names;
        await foreach (var blob in container.GetBlobsAsync()) names.Add(blob.Name);
        return names;
    }

    /// <summary>The bucket's objects under <paramref name="prefix"/>: data files by key without the prefix, and how many manifests.</summary>
    private async Task<(SortedDictionary<string, byte[]> Files, int Manifests)> DeliveredAsync(string prefix)
    {
        var listing = await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix });
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var manifests = 0;
        foreach (var key in listing.S3Objects.Select(o => o.Key))
        {
            if (key.EndsWith(".manifest.json", StringComparison.Ordinal))
            {
                manifests++;
                continue;
            }
            using var response = await Client.GetObjectAsync(_bucket, key);
            using var bytes = new MemoryStream();
            await response.ResponseStream.CopyToAsync(bytes);
            files[key[prefix.Length..]] = bytes.ToArray();
        }
        return (files, manifests);
    }

    [Test]
    public async Task Config_push_then_run_once_delivers_to_s3_the_bytes_the_sqlite_backend_writes_and_runs_lists_it()
    {
        await StartAzuriteAsync();
        var reference = await ReferenceAsync();
        var folder = await PipelineAsync("azure", S3Destination("azure/"));

        var push = await CliProcess.RunAsync(folder, Environment(), "config", "push");
        var run = await CliProcess.RunAsync(folder, Environment(), "run", "--once");
        var runs = await CliProcess.RunAsync(folder, Environment(), "runs");

        Assert.That(push.ExitCode, Is.Zero, push.ToString());
        Assert.That(push.Stdout, Does.Contain($"to http://127.0.0.1:{Azurite.BlobPort}/devstoreaccount1/config/pipeline.json: 1 activation(s) (s1-once)"));
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        foreach (var output in new[] { push, run, runs })
        {
            Assert.That(output.Stdout, Does.StartWith(
                $"Backend: Azure Storage (PipelineStorage: connection string for account devstoreaccount1 (blob http://127.0.0.1:{Azurite.BlobPort}/devstoreaccount1"));
            Assert.That(output.Stdout + output.Stderr, Does.Not.Contain(AzuriteEndpoints.AccountKey));
        }
        Assert.That(run.Stdout, Does.Contain("OK s1-once"));
        var (delivered, manifests) = await DeliveredAsync("azure/");
        Assert.That(manifests, Is.EqualTo(1));
        Assert.That(delivered.Keys, Is.EqualTo(reference.Keys));
        Assert.That(delivered, Is.EqualTo(reference));
        Assert.That(await StagingBlobsAsync(), Is.Empty);
        Assert.That(runs.ExitCode, Is.Zero, runs.ToString());
        Assert.That(runs.Stdout, Does.Match(@"succeeded\s+s1-once\s+slot "));
        Assert.That(Directory.Exists(Path.Combine(folder, ".pipeline")), Is.False, "the Azure backend keeps no local state");
    }

    [Test]
    public async Task A_1M_profile_csv_gz_and_parquet_snapshot_in_blobs_pushed_and_run_once_reach_s3_with_the_sqlite_backends_bytes()
    {
        await StartAzuriteAsync();
        const int Profiles = 1_000_000;
        var count = Profiles.ToString(CultureInfo.InvariantCulture);
        foreach (var (format, folder) in new[] { ("csv", "csv"), ("parquet", "parquet") })
        {
            var sample = await CliProcess.RunAsync(Dir, "sample", "--profiles", count, "--format", format, "--out", folder);
            Assert.That(sample.ExitCode, Is.Zero, sample.ToString());
        }
        var snapshots = new BlobServiceClient(Azurite.ConnectionString).GetBlobContainerClient("snapshots");
        await snapshots.CreateAsync();
        await snapshots.GetBlobClient("daily/2026-12-07/profiles.csv.gz").UploadAsync(Path.Combine(Dir, "csv", "profiles.csv.gz"));
        await snapshots.GetBlobClient("daily-parquet/2026-12-07/profiles.parquet").UploadAsync(Path.Combine(Dir, "parquet", "profiles.parquet"));

        // The same two activations, read from files on disk into a folder by the SQLite backend, and from the blobs into S3 by the Azure one.
        string Config(string csv, string parquet, string destination) => $$"""
            {
              "sources": { "csv": { "path": "{{csv}}" }, "parquet": { "path": "{{parquet}}" } },
              "destinations": { "out": {{destination}} },
              "activations": [
                { "id": "s1-csv", "source": "csv", "segment": "S1", "fields": ["profileId", "email", "city"],
                  "destination": "out", "prefix": "csv/", "schedule": { "once": "{{OnceSlot}}" } },
                { "id": "s2-parquet", "source": "parquet", "segment": "S2", "fields": ["profileId", "email", "lastName"],
                  "destination": "out", "prefix": "parquet/", "schedule": { "once": "{{OnceSlot}}" } }
              ]
            }
            """;
        var sqlite = Directory.CreateDirectory(Path.Combine(Dir, "sqlite")).FullName;
        await File.WriteAllTextAsync(Path.Combine(sqlite, "pipeline.json"),
            Config(Path.Combine(Dir, "csv", "profiles.csv.gz"), Path.Combine(Dir, "parquet", "profiles.parquet"), FolderDestination));
        var azure = Directory.CreateDirectory(Path.Combine(Dir, "azure")).FullName;
        await File.WriteAllTextAsync(Path.Combine(azure, "pipeline.json"),
            Config($"{snapshots.Uri}/daily/2026-12-07/", $"{snapshots.Uri}/daily-parquet/2026-12-07/profiles.parquet", S3Destination("azure/")));

        var local = await CliProcess.RunAsync(sqlite, "run", "--once");
        var push = await CliProcess.RunAsync(azure, Environment(), "config", "push");
        var run = await CliProcess.RunAsync(azure, Environment(), "run", "--once");
        var runs = await CliProcess.RunAsync(azure, Environment(), "runs");

        Assert.That(local.ExitCode, Is.Zero, local.ToString());
        Assert.That(push.ExitCode, Is.Zero, push.ToString());
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Stdout, Does.Contain("OK s1-csv").And.Contain("OK s2-parquet"));
        var reference = DataFiles(Path.Combine(sqlite, "out"));
        Assert.That(reference.Keys.Count(k => k.StartsWith("csv/", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(1));
        Assert.That(reference.Keys.Count(k => k.StartsWith("parquet/", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(1));
        Assert.That(reference.Values.Sum(b => (long)b.Length), Is.GreaterThan(1_000_000), "a million profiles export megabytes, not a handful of rows");
        var (delivered, manifests) = await DeliveredAsync("azure/");
        Assert.That(manifests, Is.EqualTo(2));
        Assert.That(delivered.Keys, Is.EqualTo(reference.Keys));
        Assert.That(delivered, Is.EqualTo(reference));
        Assert.That(await StagingBlobsAsync(), Is.Empty);
        Assert.That(runs.ExitCode, Is.Zero, runs.ToString());
        Assert.That(runs.Stdout, Does.Match(@"succeeded\s+s1-csv\s+slot ").And.Match(@"succeeded\s+s2-parquet\s+slot "), runs.ToString());
    }

    /// <summary>Small chunks and one builder: many staged chunks, so something done to a run lands mid-build.</summary>
    private const string MidBuildTuning = """ "tuning": { "chunkSize": "64KiB", "parallelism": 1 }, """;

    /// <summary>Starts `run --once` in <paramref name="folder"/> and returns it, still running, once 8 chunks are staged.</summary>
    private async Task<Process> StartRunMidBuildAsync(string folder, Dictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var start = CliProcess.StartInfo(folder, "run", "--once");
        foreach (var (name, value) in environment) start.Environment[name] = value;
        var run = Process.Start(start)!;
        try
        {
            while (!run.HasExited && (await StagingBlobsAsync()).Count < 8)
                await Task.Delay(20, cancellationToken); // polling for a condition, not waiting for time
            Assert.That(run.HasExited, Is.False, "the run finished before it was mid-build: the test proved nothing");
            return run;
        }
        catch
        {
            if (!run.HasExited) run.Kill(entireProcessTree: true);
            run.Dispose();
            throw;
        }
    }

    [Test]
    public async Task A_cli_killed_mid_build_and_run_again_ends_with_the_same_bytes_and_one_manifest()
    {
        await StartAzuriteAsync();
        var reference = await ReferenceAsync(100_000, MidBuildTuning);
        var folder = await PipelineAsync("azure", FolderDestination, 100_000, MidBuildTuning);
        Assert.That((await CliProcess.RunAsync(folder, Environment(), "config", "push")).ExitCode, Is.Zero);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using (var victim = await StartRunMidBuildAsync(folder, Environment(), timeout.Token))
        {
            victim.Kill(entireProcessTree: true);
            await victim.WaitForExitAsync(timeout.Token);
        }
        var again = await CliProcess.RunAsync(folder, Environment(), "run", "--once");

        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(again.Stdout, Does.Contain("OK s1-once").And.Match(@"resumed: [\d,]+ chunk\(s\) recorded by an earlier attempt were reused"));
        Assert.That(DataFiles(Path.Combine(folder, "out")), Is.EqualTo(reference));
        Assert.That(Directory.GetFiles(Path.Combine(folder, "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(1));
        Assert.That(await StagingBlobsAsync(), Is.Empty);
        var runs = await CliProcess.RunAsync(folder, Environment(), "runs");
        Assert.That(runs.Stdout, Does.Match(@"succeeded\s+s1-once\s+slot .* attempt 1 "), runs.ToString());
    }

    [Test]
    public async Task Storage_unreachable_for_20_seconds_mid_build_the_run_waits_then_finishes_with_the_same_bytes()
    {
        await StartAzuriteAsync();
        var reference = await ReferenceAsync(100_000, MidBuildTuning);
        var folder = await PipelineAsync("azure", FolderDestination, 100_000, MidBuildTuning);
        // The CLI reaches Azurite only through the proxy; the test looks at Azurite directly.
        await using var proxy = new OutageProxy(_azurite!.Ports);
        var viaProxy = Environment(new AzuriteEndpoints(proxy.Ports[0], proxy.Ports[1], proxy.Ports[2]).ConnectionString);
        Assert.That((await CliProcess.RunAsync(folder, viaProxy, "config", "push")).ExitCode, Is.Zero);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        using var run = await StartRunMidBuildAsync(folder, viaProxy, timeout.Token);
        var stdout = run.StandardOutput.ReadToEndAsync();
        var stderr = run.StandardError.ReadToEndAsync();
        try
        {
            proxy.GoDown();
            // The outage itself: what the issue asks the run to ride out is 20 seconds of a storage account that is not there.
            await Task.Delay(TimeSpan.FromSeconds(20), timeout.Token);
            // (No output in the message: reading it to the end would wait for the process to exit.)
            Assert.That(run.HasExited, Is.False, "the run gave up during the outage");
            proxy.ComeBack();
            Assert.That(proxy.Refused, Is.GreaterThan(0), "nothing tried the account during the outage: the test proved nothing");
            try
            {
                await run.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                run.Kill(entireProcessTree: true);
                Assert.Fail($"the run did not finish after the outage:\n{await stdout}\n{await stderr}");
            }
        }
        finally
        {
            // A failed assertion must not leave the CLI running.
            if (!run.HasExited) run.Kill(entireProcessTree: true);
        }

        var output = $"exit {run.ExitCode}\n{await stdout}\n{await stderr}";
        Assert.That(run.ExitCode, Is.Zero, output);
        Assert.That(await stdout, Does.Contain("OK s1-once"), output);
        Assert.That(await stderr, Does.Contain("Azure Storage is unreachable").And.Contain("retr"), output); // retried by the stage, or by the run's driver
        Assert.That(DataFiles(Path.Combine(folder, "out")), Is.EqualTo(reference));
        Assert.That(Directory.GetFiles(Path.Combine(folder, "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(1));
        Assert.That(await StagingBlobsAsync(), Is.Empty);
        var runs = await CliProcess.RunAsync(folder, Environment(), "runs");
        Assert.That(runs.Stdout, Does.Match(@"succeeded\s+s1-once\s+slot .* attempt 1 "), runs.ToString());
    }

    [Test]
    public async Task Two_run_processes_on_one_account_both_exit_0_deliver_once_and_leave_no_staging()
    {
        await StartAzuriteAsync();
        var folder = await PipelineAsync("azure", FolderDestination, 100_000, """ "tuning": { "chunkSize": "256KiB" }, """);
        Assert.That((await CliProcess.RunAsync(folder, Environment(), "config", "push")).ExitCode, Is.Zero);

        var both = await Task.WhenAll(
            CliProcess.RunAsync(folder, Environment(), "run", "--once"),
            CliProcess.RunAsync(folder, Environment(), "run", "--once"));

        foreach (var result in both)
        {
            Assert.That(result.ExitCode, Is.Zero, result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("FAILED"));
        }
        Assert.That(both.Count(r => r.Stdout.Contains("OK s1-once", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(1), string.Join("\n", both.Select(b => b.ToString())));
        Assert.That(Directory.GetFiles(Path.Combine(folder, "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(1));
        Assert.That(await StagingBlobsAsync(), Is.Empty);
    }

    [Test]
    public async Task A_failed_run_names_retry_without_a_config_file_and_retry_delivers_it_as_attempt_2()
    {
        await StartAzuriteAsync();
        var folder = await PipelineAsync("azure", FolderDestination, 2_000);
        Assert.That((await CliProcess.RunAsync(folder, Environment(), "config", "push")).ExitCode, Is.Zero);
        var snapshot = Path.Combine(folder, "profiles.csv.gz");
        File.Move(snapshot, snapshot + ".away");

        var failed = await CliProcess.RunAsync(folder, Environment(), "run", "--once");
        var runId = System.Text.RegularExpressions.Regex.Match(failed.Stderr, @"FAILED s1-once \(run (?<id>[^)]+)\)").Groups["id"].Value;
        File.Move(snapshot + ".away", snapshot);
        var retried = await CliProcess.RunAsync(folder, Environment(), "retry", runId);
        var runs = await CliProcess.RunAsync(folder, Environment(), "runs");

        Assert.That(failed.ExitCode, Is.EqualTo(1), failed.ToString());
        Assert.That(runId, Is.Not.Empty, failed.ToString());
        Assert.That(failed.Stderr, Does.Contain($"Retry now: pipeline retry {runId}").And.Not.Contain("--config"));
        Assert.That(retried.ExitCode, Is.Zero, retried.ToString());
        Assert.That(retried.Stdout, Does.Contain($"OK s1-once (run {runId})"));
        Assert.That(runs.Stdout, Does.Match(@"succeeded\s+s1-once\s+slot .* attempt 2 "), runs.ToString());
        Assert.That(Directory.GetFiles(Path.Combine(folder, "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Plan_on_azure_plans_the_published_config_from_the_accounts_run_state()
    {
        await StartAzuriteAsync();
        var folder = await PipelineAsync("azure", FolderDestination, 2_000);
        Assert.That((await CliProcess.RunAsync(folder, Environment(), "config", "push")).ExitCode, Is.Zero);
        // Not the file on disk: plan reads what the Functions app would run.
        File.Delete(Path.Combine(folder, "pipeline.json"));

        var before = await CliProcess.RunAsync(folder, Environment(), "plan", "s1-once");
        var run = await CliProcess.RunAsync(folder, Environment(), "run", "--once");
        var after = await CliProcess.RunAsync(folder, Environment(), "plan", "s1-once");

        Assert.That(before.ExitCode, Is.Zero, before.ToString());
        Assert.That(before.Stdout, Does.StartWith("Backend: Azure Storage (PipelineStorage: "));
        Assert.That(before.Stdout, Does.Contain("due now: the next `pipeline run` exports it"));
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(after.ExitCode, Is.Zero, after.ToString());
        Assert.That(after.Stdout, Does.Contain("its only slot, which will not run again"), "the slot run on the account is not due again");
    }

    [Test]
    public async Task An_invalid_config_push_is_refused_with_validates_messages_and_the_published_one_stays()
    {
        await StartAzuriteAsync();
        var folder = await PipelineAsync("azure", FolderDestination);
        var good = await File.ReadAllTextAsync(Path.Combine(folder, "pipeline.json"));
        Assert.That((await CliProcess.RunAsync(folder, Environment(), "config", "push")).ExitCode, Is.Zero);
        await File.WriteAllTextAsync(Path.Combine(folder, "bad.json"), good.Replace("\"segment\"", "\"segmnt\"", StringComparison.Ordinal));

        var push = await CliProcess.RunAsync(folder, Environment(), "config", "push", "--config", "bad.json");
        var validate = await CliProcess.RunAsync(folder, "validate", "--config", "bad.json");
        var show = await CliProcess.RunAsync(folder, Environment(), "config", "show");

        Assert.That(push.ExitCode, Is.EqualTo(2), push.ToString());
        Assert.That(validate.ExitCode, Is.EqualTo(2), validate.ToString());
        Assert.That(validate.Stderr, Does.Contain("segmnt"));
        Assert.That(push.Stderr, Does.StartWith(validate.Stderr));
        Assert.That(push.Stderr, Does.Contain("Not published").And.Contain("stays in force"));
        Assert.That(show.ExitCode, Is.Zero, show.ToString());
        Assert.That(show.Stdout, Is.EqualTo(good));
    }

    [Test]
    public async Task Export_on_azure_writes_the_bytes_of_a_local_export_and_names_the_backend_first()
    {
        await StartAzuriteAsync();
        Assert.That((await CliProcess.RunAsync(Dir, "sample", "--profiles", "5000", "--out", ".")).ExitCode, Is.Zero);
        string[] export = ["export", "--source", "profiles.csv.gz", "--segment", "S2", "--fields", "profileId,email", "--file-name", "s2_{index:2}"];

        var local = await CliProcess.RunAsync(Dir, [.. export, "--to", "local"]);
        var azure = await CliProcess.RunAsync(Dir, Environment(), [.. export, "--to", "azure"]);

        Assert.That(local.ExitCode, Is.Zero, local.ToString());
        Assert.That(azure.ExitCode, Is.Zero, azure.ToString());
        Assert.That(azure.Stdout, Does.StartWith("Backend: Azure Storage (PipelineStorage: "));
        Assert.That(DataFiles(Path.Combine(Dir, "azure")), Is.EqualTo(DataFiles(Path.Combine(Dir, "local"))));
        Assert.That(await StagingBlobsAsync(), Is.Empty);
    }

    private static IEnumerable<TestCaseData> BadSettings()
    {
        yield return new TestCaseData("PipelineStorage", $"AccountName=devstoreaccount1;AccountKey={FakeKey};Bogus=1", "unknown keyword \"Bogus\"")
            .SetName("A connection string with an unknown keyword");
        yield return new TestCaseData("PipelineStorage", $"AccountName=devstoreaccount1;{FakeKey}", "is not a connection string")
            .SetName("A connection string with a pasted key and no keyword");
        yield return new TestCaseData("PipelineStorage__blobServiceUrl", "http://127.0.0.1:1/devstoreaccount1", "PipelineStorage__blobServiceUri")
            .SetName("An unknown PipelineStorage__ setting name");
    }

    [TestCaseSource(nameof(BadSettings))]
    public async Task A_bad_setting_exits_2_naming_it_and_the_fix_without_the_key(string name, string value, string says)
    {
        var folder = await PipelineAsync("azure", FolderDestination, 100);
        var environment = new Dictionary<string, string> { [name] = value };

        string[][] commands = [["run", "--once"], ["runs"], ["config", "push"], ["export", "--source", "profiles.csv.gz", "--segment", "S1", "--fields", "profileId", "--to", "x"]];
        foreach (var command in commands)
        {
            var result = await CliProcess.RunAsync(folder, environment, command);
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stderr, Does.Contain(name).And.Contain(says).And.Contain("Fix:"), result.ToString());
            Assert.That(result.Stdout + result.Stderr, Does.Not.Contain(FakeKey[..24]), result.ToString());
        }
    }

    [Test]
    public async Task An_unreachable_account_or_a_wrong_key_exits_2_naming_the_setting_without_the_key()
    {
        await StartAzuriteAsync();
        var folder = await PipelineAsync("azure", FolderDestination, 100);
        var closed = EmulatorProcess.FreePort(); // nothing listens there
        var unreachable = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={FakeKey};" +
                          $"BlobEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;";
        var wrongKey = Azurite.ConnectionString.Replace(AzuriteEndpoints.AccountKey, FakeKey, StringComparison.Ordinal);

        var cases = new (string Storage, string[] Command, string Says)[]
        {
            (unreachable, ["run", "--once"], "Cannot reach the storage account"),
            (unreachable, ["config", "push"], "Cannot reach the storage account"),
            (wrongKey, ["runs"], "refused this request (403"),
            (wrongKey, ["run", "--once", "--config", "pipeline.json"], "refused this request (403"),
        };
        foreach (var (storage, command, says) in cases)
        {
            var result = await CliProcess.RunAsync(folder, Environment(storage), command);
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stderr, Does.Contain(says).And.Contain("PipelineStorage").And.Contain("Fix:"), result.ToString());
            Assert.That(result.Stdout + result.Stderr, Does.Not.Contain(FakeKey[..24]), result.ToString());
        }
    }

    [Test]
    public async Task Config_push_without_the_setting_and_run_without_a_published_config_exit_2_with_the_fix()
    {
        await StartAzuriteAsync();
        var folder = await PipelineAsync("azure", FolderDestination, 100);

        var push = await CliProcess.RunAsync(folder, "config", "push");
        var run = await CliProcess.RunAsync(folder, Environment(), "run", "--once");

        Assert.That(push.ExitCode, Is.EqualTo(2), push.ToString());
        Assert.That(push.Stderr, Does.Contain("PipelineStorage setting, which is not set").And.Contain("UseDevelopmentStorage=true"));
        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Stderr, Does.Contain("No config is published").And.Contain("pipeline config push"));
    }
}
