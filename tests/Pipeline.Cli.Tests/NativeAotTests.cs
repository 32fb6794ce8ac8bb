using System.Diagnostics;
using System.IO.Compression;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The CLI ships compiled ahead of time (`dotnet publish -r linux-x64 -p:PublishAot=true`, README). Reflection that
/// works under the JIT can fail there, so these publish that build and check it does what the JIT build does.
/// Publishing takes a minute or two and needs a C toolchain (clang or gcc; .ci/run installs one).
/// </summary>
[Category("Integration")]
[NonParallelizable]
public class NativeAotTests
{
    private string _dir = null!;
    private string _program = null!;

    [OneTimeSetUp]
    public async Task Publish()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-aot-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        var repo = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repo, "Pipeline.sln"))) repo = Path.GetDirectoryName(repo) ?? throw new InvalidOperationException("Pipeline.sln not found above the test folder.");
        var output = Path.Combine(_dir, "bin");
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = repo, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "publish", "cli/Pipeline.Cli", "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "-o", output, "-nologo" }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(timeout.Token);
        _program = Path.Combine(output, "pipeline");
        Assert.That(process.ExitCode, Is.Zero, $"dotnet publish -p:PublishAot=true failed:\n{await stdout}\n{await stderr}");
        Assert.That(File.Exists(_program), $"{_program} was not produced");
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        try { if (_dir is not null && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private Task<CliProcess.Result> Native(params string[] args) => CliProcess.RunProgramAsync(_program, _dir, new Dictionary<string, string>(), args);

    [Test]
    public async Task The_native_build_runs_on_the_azure_backend_like_the_jit_build()
    {
        // Azure.Data.Tables uses reflection (JSON bodies, Activator): the native build must still keep run state in tables.
        await using var azurite = await Pipeline.TestKit.Emulators.EmulatorProcess.StartAsync(Pipeline.TestKit.Emulators.EmulatorKind.Azurite, CancellationToken.None);
        var storage = new Dictionary<string, string> { ["PipelineStorage"] = azurite.Azurite.ConnectionString };
        Assert.That((await Native("sample", "--profiles", "5000", "--out", "azure")).ExitCode, Is.Zero);
        var folder = Path.Combine(_dir, "azure");

        var push = await CliProcess.RunProgramAsync(_program, folder, storage, "config", "push");
        var run = await CliProcess.RunProgramAsync(_program, folder, storage, "run", "--once");
        var runs = await CliProcess.RunProgramAsync(_program, folder, storage, "runs");

        Assert.That(push.ExitCode, Is.Zero, push.ToString());
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Stdout, Does.StartWith("Backend: Azure Storage (PipelineStorage: "));
        Assert.That(Directory.GetFiles(Path.Combine(folder, "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(2));
        Assert.That(runs.ExitCode, Is.Zero, runs.ToString());
        Assert.That(runs.Stdout.Split('\n').Count(l => l.StartsWith("succeeded ", StringComparison.Ordinal)), Is.EqualTo(2), runs.ToString());
    }

    private static string Unzipped(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        return reader.ReadToEnd();
    }

    private Pipeline.Engine.Manifests.RunManifest Manifest(string folder) =>
        System.Text.Json.JsonSerializer.Deserialize<Pipeline.Engine.Manifests.RunManifest>(
            File.ReadAllBytes(Directory.GetFiles(Path.Combine(_dir, folder), "*.manifest.json").Single()), Pipeline.Engine.EngineJson.Options)!;

    [Test]
    public async Task The_native_build_exports_csv_and_parquet_exactly_like_the_jit_build()
    {
        Assert.That((await Native("sample", "--profiles", "30000", "--out", "csv")).ExitCode, Is.Zero);
        Assert.That((await Native("sample", "--profiles", "30000", "--out", "pq", "--format", "parquet")).ExitCode, Is.Zero);
        string[] export = ["--segment", "S1", "--fields", "profileId,email,lastName:last_name,updatedAt", "--file-name", "s1_{index:2}", "--chunk-size", "256KiB"];

        foreach (var (source, name) in new[] { ("csv/profiles.csv.gz", "csv"), ("pq/profiles.parquet", "pq") })
        {
            var native = await Native(["export", "--source", source, "--to", "native-" + name, .. export]);
            var jit = await CliProcess.RunAsync(_dir, ["export", "--source", source, "--to", "jit-" + name, .. export]);
            Assert.That(native.ExitCode, Is.Zero, native.ToString());
            Assert.That(jit.ExitCode, Is.Zero, jit.ToString());
            var nativeText = Unzipped(Path.Combine(_dir, "native-" + name, "s1_01.csv.gz"));
            Assert.That(nativeText, Is.EqualTo(Unzipped(Path.Combine(_dir, "jit-" + name, "s1_01.csv.gz"))), name);
            Assert.That(nativeText.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.GreaterThan(1000));
            var nativeManifest = Manifest("native-" + name);
            var jitManifest = Manifest("jit-" + name);
            // Run ids and times differ; what was delivered must not.
            Assert.That(nativeManifest.Files, Is.EqualTo(jitManifest.Files), name);
            Assert.That(nativeManifest.Totals, Is.EqualTo(jitManifest.Totals), name);
            Assert.That(nativeManifest.Schema, Is.EqualTo(jitManifest.Schema), name);
            Assert.That(nativeManifest.Format, Is.EqualTo(jitManifest.Format), name);
            Assert.That(nativeManifest.Totals.Rows, Is.GreaterThan(1000));
            var file = nativeManifest.Files.Single();
            Assert.That(file.Key, Is.EqualTo("s1_01.csv.gz"));
            Assert.That(file.Sha256, Is.EqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(_dir, "native-" + name, file.Key))))));
        }
    }

    [Test]
    public async Task The_native_build_runs_a_schedule_and_reports_errors_like_the_jit_build()
    {
        Assert.That((await Native("sample", "--profiles", "5000", "--out", "demo")).ExitCode, Is.Zero);
        var run = await Native("run", "--config", "demo/pipeline.json", "--once");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "demo", "out"), "*.manifest.json", SearchOption.AllDirectories), Has.Length.EqualTo(2));
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "demo", ".pipeline", "runs"), "*.json"), Has.Length.EqualTo(2), "a summary per run");

        var badField = await Native("export", "--source", "demo/profiles.csv.gz", "--segment", "S1", "--fields", "profileId,emial", "--to", "bad");
        Assert.That(badField.ExitCode, Is.EqualTo(2), badField.ToString()); // a field that is not a column is bad usage, as in validate
        Assert.That(badField.Stderr + badField.Stdout, Does.Contain("\"emial\" is not a column"));

        File.WriteAllText(Path.Combine(_dir, "broken.json"), "{ \"activations\": [ { \"id\": 3 } ] }");
        var badConfig = await Native("validate", "--config", "broken.json");
        Assert.That(badConfig.ExitCode, Is.EqualTo(2), badConfig.ToString());
        Assert.That(badConfig.Stderr, Does.Contain("broken.json"));

        File.WriteAllText(Path.Combine(_dir, "s3.json"), """
            { "sources": { "profiles": { "path": "demo/profiles.csv.gz" } },
              "destinations": { "acme": { "type": "s3", "bucket": "acme-audiences", "prefix": "exports/",
                "credentials": { "mode": "assumeRole", "roleArn": "arn:aws:iam::123456789012:role/audience-export", "externalId": "acme-7c1f" } } },
              "activations": [] }
            """);
        var policy = await Native("policy", "--config", "s3.json", "acme", "--account-id", "111122223333");
        Assert.That(policy.ExitCode, Is.Zero, policy.ToString());
        Assert.That(policy.Stdout, Does.Contain("\"sts:ExternalId\": \"acme-7c1f\"").And.Contain("arn:aws:s3:::acme-audiences/exports/*"));
    }
}
