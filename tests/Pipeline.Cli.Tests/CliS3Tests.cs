using System.IO.Compression;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Pipeline.S3.Tests.Infrastructure;

namespace Pipeline.Cli.Tests;

/// <summary>`pipeline export --to s3://...` against s3rver on loopback (compatibility mode), read back with the AWS SDK.</summary>
[Category("Integration")]
public class CliS3Tests
{
    private const string Secret = "KNOWN-SECRET-do-not-print-7f3a9c";
    private EmulatorProcess _s3 = null!;
    private AmazonS3Client _client = null!;
    private string _dir = null!;

    [OneTimeSetUp]
    public async Task StartEmulator()
    {
        _s3 = await EmulatorProcess.StartAsync(EmulatorKind.S3rver, CancellationToken.None);
        _client = new AmazonS3Client(new BasicAWSCredentials("test", "test"),
            new AmazonS3Config { ServiceURL = _s3.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        await _client.PutBucketAsync("exports");
    }

    [OneTimeTearDown]
    public async Task StopEmulator()
    {
        // Null-safe: without the emulator the setup fails before these are set, and its error is the one to see.
        _client?.Dispose();
        if (_s3 is not null) await _s3.DisposeAsync();
    }

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-cli-s3-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        if (_dir is null) return;
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static Dictionary<string, string> Aws(string secret) => new()
    {
        ["AWS_ACCESS_KEY_ID"] = "test",
        ["AWS_SECRET_ACCESS_KEY"] = secret,
        ["AWS_REGION"] = "us-east-1",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
    };

    private async Task<byte[]> ReadAsync(string bucket, string key)
    {
        using var response = await _client.GetObjectAsync(bucket, key);
        using var buffer = new MemoryStream();
        await response.ResponseStream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    [Test]
    public async Task Export_to_s3_writes_the_same_bytes_as_a_local_export_and_a_manifest()
    {
        Assert.That((await CliProcess.RunAsync(_dir, "sample", "--profiles", "30000", "--out", ".")).ExitCode, Is.Zero);
        string[] common = ["export", "--source", "profiles.csv.gz", "--segment", "S1", "--fields", "profileId,email,city", "--file-name", "s1_{index:2}"];

        var local = await CliProcess.RunAsync(_dir, [.. common, "--to", "local"]);
        var s3 = await CliProcess.RunAsync(_dir, Aws("test"), [.. common, "--to", "s3://exports/audiences/daily", "--endpoint", _s3.Endpoint, "--compatibility"]);

        Assert.That(local.ExitCode, Is.Zero, local.ToString());
        Assert.That(s3.ExitCode, Is.Zero, s3.ToString());
        Assert.That(s3.Stdout, Does.Contain("s3://exports/audiences/daily/s1_01.csv.gz"));
        var bytes = await ReadAsync("exports", "audiences/daily/s1_01.csv.gz");
        Assert.That(bytes, Is.EqualTo(await File.ReadAllBytesAsync(Path.Combine(_dir, "local", "s1_01.csv.gz"))));
        using (var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress))
            Assert.That(await new StreamReader(gzip).ReadLineAsync(), Is.EqualTo("profileId,email,city"));
        var listing = await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "exports", Prefix = "audiences/daily/" });
        Assert.That(listing.S3Objects.Select(o => o.Key), Has.Some.EndsWith(".manifest.json"));
    }

    [Test]
    public async Task A_failing_s3_export_never_prints_the_secret_key()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "p.csv"), "profileId,segments\np1,S1\n");

        var result = await CliProcess.RunAsync(_dir, Aws(Secret),
            "export", "--source", "p.csv", "--segment", "S1", "--fields", "profileId", "--to", "s3://no-such-bucket-here/x", "--endpoint", _s3.Endpoint, "--compatibility", "-v");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stderr, Does.Contain("no-such-bucket-here"));
        Assert.That(result.Stdout + result.Stderr, Does.Not.Contain(Secret));
    }
}
