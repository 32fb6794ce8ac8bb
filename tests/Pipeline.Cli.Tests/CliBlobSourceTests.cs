using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Sas;
using Pipeline.TestKit.Emulators;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The CLI reading snapshots from blob URLs (Azurite): `export --source URL` writes what the same file on disk gives;
/// `run` reads a config's blob source; a missing blob, a refused read or a URL with a SAS exits 2 in `export`,
/// `validate` and `plan`, naming the URL (never the token) and the fix.
/// </summary>
[Category("Integration")]
public class CliBlobSourceTests
{
    // Null until the emulator started: teardown must not add an error on top of the setup's own.
    private EmulatorProcess? _azurite;
    private BlobContainerClient? _container;
    private string? _samples;
    private string _dir = null!;

    private AzuriteEndpoints Azurite => _azurite?.Azurite ?? throw new InvalidOperationException("Azurite did not start (see the set-up failure).");
    private BlobContainerClient Container => _container ?? throw new InvalidOperationException("The container was not created (setup failed).");
    private string Samples => _samples ?? throw new InvalidOperationException("The samples were not written (setup failed).");
    private string Url(string name) => $"{Azurite.BlobServiceUri}/{Container.Name}/{name}";

    [OneTimeSetUp]
    public async Task StartAzurite()
    {
        _azurite = await EmulatorProcess.StartAsync(EmulatorKind.Azurite, CancellationToken.None);
        _container = new BlobServiceClient(Azurite.ConnectionString).GetBlobContainerClient("snapshots");
        await _container.CreateAsync();
        _samples = Path.Combine(Path.GetTempPath(), "pipeline-cli-blob-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_samples);
        Assert.That((await CliProcess.RunAsync(_samples, "sample", "--profiles", "30000", "--out", "csv")).ExitCode, Is.Zero);
        Assert.That((await CliProcess.RunAsync(_samples, "sample", "--profiles", "30000", "--format", "parquet", "--out", "parquet")).ExitCode, Is.Zero);
        await _container.GetBlobClient("daily/profiles.csv.gz").UploadAsync(Path.Combine(_samples, "csv", "profiles.csv.gz"));
        await _container.GetBlobClient("daily-parquet/profiles.parquet").UploadAsync(Path.Combine(_samples, "parquet", "profiles.parquet"));
    }

    [OneTimeTearDown]
    public async Task StopAzurite()
    {
        try { if (_samples is not null && Directory.Exists(_samples)) Directory.Delete(_samples, recursive: true); } catch (IOException) { }
        if (_azurite is not null) await _azurite.DisposeAsync();
        _azurite = null;
    }

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-cli-blob-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        try { if (_dir is not null && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>No PipelineStorage from the machine running the tests: Azurite URLs are read with the development key.</summary>
    private static Dictionary<string, string> NoConnection() => new() { ["PipelineStorage"] = "" };

    [TestCase("csv/profiles.csv.gz", "daily/profiles.csv.gz")]
    [TestCase("parquet/profiles.parquet", "daily-parquet/profiles.parquet")]
    [TestCase("csv/profiles.csv.gz", "daily")]
    public async Task Export_from_a_blob_url_writes_the_same_bytes_as_from_the_file_on_disk(string file, string blob)
    {
        string[] common = ["export", "--segment", "S1", "--fields", "profileId,email,city", "--file-name", "s1_{index:2}"];

        var disk = await CliProcess.RunAsync(_dir, NoConnection(), [.. common, "--source", Path.Combine(Samples, file), "--to", "disk"]);
        var url = await CliProcess.RunAsync(_dir, NoConnection(), [.. common, "--source", Url(blob), "--to", "blob"]);

        Assert.That(disk.ExitCode, Is.Zero, disk.ToString());
        Assert.That(url.ExitCode, Is.Zero, url.ToString());
        var expected = await File.ReadAllBytesAsync(Path.Combine(_dir, "disk", "s1_01.csv.gz"));
        Assert.That(expected, Has.Length.GreaterThan(1000));
        Assert.That(await File.ReadAllBytesAsync(Path.Combine(_dir, "blob", "s1_01.csv.gz")), Is.EqualTo(expected));
    }

    [Test]
    public async Task Run_validate_and_plan_read_a_configs_blob_source()
    {
        await WriteConfigAsync(Url("daily/profiles.csv.gz"));

        var validate = await CliProcess.RunAsync(_dir, NoConnection(), "validate");
        var plan = await CliProcess.RunAsync(_dir, NoConnection(), "plan", "s1-daily");
        var run = await CliProcess.RunAsync(_dir, NoConnection(), "run", "--once");

        Assert.That(validate.ExitCode, Is.Zero, validate.ToString());
        Assert.That(plan.ExitCode, Is.Zero, plan.ToString());
        Assert.That(plan.Stdout, Does.Contain("Source: 1 file(s)").And.Contain("  profiles.csv.gz  "));
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "out", "s1-daily"), "*.csv.gz"), Is.Not.Empty);
    }

    [Test]
    public async Task A_missing_blob_exits_2_in_export_validate_and_plan_naming_the_url()
    {
        var missing = Url("daily/nope.csv.gz");
        await WriteConfigAsync(missing);

        var export = await CliProcess.RunAsync(_dir, NoConnection(), "export", "--source", missing, "--segment", "S1", "--fields", "profileId", "--to", "out");
        var validate = await CliProcess.RunAsync(_dir, NoConnection(), "validate");
        var plan = await CliProcess.RunAsync(_dir, NoConnection(), "plan", "s1-daily");

        Assert.That(export.ExitCode, Is.EqualTo(2), export.ToString());
        Assert.That(export.Stderr, Does.StartWith("error: --source: ").And.Contain($"{missing} does not exist"));
        Assert.That(validate.ExitCode, Is.EqualTo(2), validate.ToString());
        Assert.That(validate.Stderr, Does.Contain("$.sources.profiles.path").And.Contain(missing));
        Assert.That(plan.ExitCode, Is.EqualTo(2), plan.ToString());
        Assert.That(plan.Stderr, Does.Contain("$.sources.profiles.path").And.Contain(missing));
    }

    [Test]
    public async Task A_read_the_pipeline_storage_credential_may_not_make_exits_2_with_the_fix_and_never_the_token()
    {
        var sas = new AccountSasBuilder(AccountSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1), AccountSasServices.Blobs, AccountSasResourceTypes.All)
            .ToSasQueryParameters(new StorageSharedKeyCredential(AzuriteEndpoints.AccountName, AzuriteEndpoints.AccountKey)).ToString();
        var environment = new Dictionary<string, string> { ["PipelineStorage"] = $"BlobEndpoint={Azurite.BlobServiceUri};SharedAccessSignature={sas}" };
        await WriteConfigAsync(Url("daily/profiles.csv.gz"));

        var export = await CliProcess.RunAsync(_dir, environment, "export", "--source", Url("daily/profiles.csv.gz"), "--segment", "S1", "--fields", "profileId", "--to", "out");
        var validate = await CliProcess.RunAsync(_dir, environment, "validate");

        Assert.That(export.ExitCode, Is.EqualTo(2), export.ToString());
        Assert.That(export.Stderr, Does.Contain(Url("daily/profiles.csv.gz")).And.Contain("403").And.Contain("PipelineStorage"));
        Assert.That(validate.ExitCode, Is.EqualTo(2), validate.ToString());
        var signature = sas.Split('&').Single(p => p.StartsWith("sig=", StringComparison.Ordinal))[4..];
        Assert.That(export.ToString() + validate, Does.Not.Contain(signature).And.Not.Contain(Uri.UnescapeDataString(signature)));
    }

    [Test]
    public async Task A_source_url_with_a_sas_token_exits_2_without_printing_the_token()
    {
        var url = Url("daily/profiles.csv.gz") + "?sv=2024-01-01&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D";

        var export = await CliProcess.RunAsync(_dir, NoConnection(), "export", "--source", url, "--segment", "S1", "--fields", "profileId", "--to", "out");

        Assert.That(export.ExitCode, Is.EqualTo(2), export.ToString());
        Assert.That(export.Stderr, Does.Contain(Url("daily/profiles.csv.gz")).And.Contain("SAS"));
        Assert.That(export.ToString(), Does.Not.Contain("c2VjcmV0").And.Not.Contain("sig="));
    }

    /// <summary>The sample config with its source pointed at <paramref name="source"/>.</summary>
    private async Task WriteConfigAsync(string source)
    {
        var config = await File.ReadAllTextAsync(Path.Combine(Samples, "csv", "pipeline.json"));
        Assert.That(config, Does.Contain("\"profiles.csv.gz\""));
        await File.WriteAllTextAsync(Path.Combine(_dir, "pipeline.json"), config.Replace("\"profiles.csv.gz\"", $"\"{source}\"", StringComparison.Ordinal));
    }
}
