using System.Globalization;
using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;
using Pipeline.Local;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>
/// One test's world: a snapshot of profiles in two files (two slices) on disk and, as the app reads it in Azure, in
/// Azurite blobs; a bucket of its own in fauxqs, empty stage queues in Azurite, and the config that exports the snapshot
/// to the bucket, which the local engine can also run into a folder (reading the files on disk).
/// </summary>
internal sealed class ExportWorld : IDisposable
{
    public const string SecretName = "functions-e2e";
    public const string Prefix = "audiences/";
    public const string RefusingBucket = "refuses-every-part";

    /// <summary>The instant both the app and the local engine read, so slot and manifest times agree.</summary>
    public static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The slot a daily 02:00 activation first exports at <see cref="Now"/>.</summary>
    public static readonly DateTimeOffset Slot = new(2026, 11, 23, 2, 0, 0, TimeSpan.Zero);

    public static QueueHostSettings Host { get; } = QueueHostSettings.LoadOrDefaults(Path.Combine(Repo.Root, "host.json"));

    private ExportWorld(string root, string bucket, string suffix, AmazonS3Client s3)
    {
        Root = root;
        Bucket = bucket;
        Suffix = suffix;
        S3 = s3;
    }

    public string Root { get; }
    public string Bucket { get; }

    /// <summary>Appended to activation ids, so the runs of one test never meet another's in the shared tables.</summary>
    public string Suffix { get; }

    public AmazonS3Client S3 { get; }

    public string BigCsv => "big-csv-" + Suffix;
    public string SmallTsv => "small-tsv-" + Suffix;

    public static async Task<ExportWorld> CreateAsync()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var root = Path.Combine(Path.GetTempPath(), "pipeline-functions-tests", suffix);
        Directory.CreateDirectory(Path.Combine(root, "snapshot"));
        var s3 = new AmazonS3Client(new BasicAWSCredentials("test", "test"),
            new AmazonS3Config { ServiceURL = Emulators.S3.DirectEndpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        var world = new ExportWorld(root, "fn-" + suffix, suffix, s3);
        world.WriteSnapshot(70_000);
        await world.UploadSnapshotAsync();
        await s3.PutBucketAsync(world.Bucket);
        await s3.PutBucketAsync(new PutBucketRequest { BucketName = RefusingBucket });
        // Shared queues: what an earlier test left must not be served with this test's app.
        var queues = new QueueServiceClient(Emulators.Azurite.ConnectionString, StageQueues.ClientOptions());
        foreach (var name in StageQueues.All.SelectMany(q => new[] { q, StageQueues.Poison(q), StageQueues.Poison(StageQueues.Poison(q)) }))
        {
            await queues.GetQueueClient(name).CreateIfNotExistsAsync();
            await queues.GetQueueClient(name).ClearMessagesAsync();
        }
        return world;
    }

    /// <summary>Profiles with a long notes column (the CSV export passes 6 MiB: a multipart file and a split) and values that need quoting.</summary>
    private void WriteSnapshot(int rows)
    {
        for (var file = 0; file < 2; file++)
        {
            var csv = new StringBuilder("profileId,email,name,notes,segments\n");
            for (var i = file * rows / 2; i < (file + 1) * rows / 2; i++)
            {
                var name = (i % 5) switch { 0 => "\"O\"\"Neil, Jr.\"", 1 => "Zoë 李", _ => "plain" + i };
                var segments = i % 3 == 1 ? "S2" : "S1;S2";
                csv.Append(CultureInfo.InvariantCulture, $"p{i:D7},user{i}@example.com,{name},note {i} {new string((char)('a' + i % 26), 90)},{segments}\n");
            }
            File.WriteAllText(Path.Combine(Root, "snapshot", $"profiles-{file}.csv"), csv.ToString());
        }
    }

    /// <summary>The snapshot's blob prefix: the app reads the files the local engine reads, from Blob storage.</summary>
    public string SnapshotUrl => $"{Emulators.Azurite.BlobServiceUri}/snapshots/{Suffix}/";

    private async Task UploadSnapshotAsync()
    {
        var container = new BlobServiceClient(Emulators.Azurite.ConnectionString).GetBlobContainerClient("snapshots");
        await container.CreateIfNotExistsAsync();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "snapshot")))
            await container.GetBlobClient($"{Suffix}/{Path.GetFileName(file)}").UploadAsync(file, overwrite: true);
    }

    /// <summary>The config: a split CSV (one multipart file, one single put) and a gzip TSV, both to <paramref name="destination"/>.</summary>
    /// <param name="snapshot">Where the snapshot is read: <see cref="SnapshotUrl"/> (the app) unless given (the local engine's folder).</param>
    public string Config(string destination, string? extraActivation = null, string? snapshot = null) =>
        $$"""
        {
          "tuning": { "chunkSize": "1MiB", "parallelism": 2, "partSize": "5MiB" },
          "sources": { "profiles": { "path": "{{Json(snapshot ?? SnapshotUrl)}}", "idColumn": "profileId", "segmentsColumn": "segments" } },
          "destinations": {
            "customer": {{destination}},
            "refusing": { "type": "s3", "bucket": "{{RefusingBucket}}", "region": "us-east-1", "endpoint": "{{Emulators.S3.Endpoint}}", "pathStyle": true,
                          "credentials": { "mode": "accessKey", "secretName": "{{SecretName}}" } }
          },
          "activations": [
            { "id": "{{BigCsv}}", "source": "profiles", "segment": "S1", "destination": "customer", "prefix": "{{Prefix}}",
              "fields": [{ "source": "profileId", "header": "id" }, "email", "name", "notes"],
              "format": "csv", "compression": "none", "maxFileSize": "6MiB", "fileName": "{activation}/{runTime:yyyyMMdd}_{index:3}",
              "schedule": { "daily": "02:00", "startAt": "2026-11-01T00:00:00Z" } },
            { "id": "{{SmallTsv}}", "source": "profiles", "segment": "S1", "destination": "customer", "prefix": "{{Prefix}}",
              "fields": ["profileId", "email"], "format": "tsv", "fileName": "{activation}/{runTime:yyyyMMdd}_{index:3}",
              "schedule": { "daily": "02:00", "startAt": "2026-11-01T00:00:00Z" } }{{extraActivation}}
          ]
        }
        """;

    /// <summary>The customer's bucket in fauxqs, through the completion-checksum shim (as a customer's S3).</summary>
    public string S3Destination =>
        $$"""{ "type": "s3", "bucket": "{{Bucket}}", "region": "us-east-1", "endpoint": "{{Emulators.S3.Endpoint}}", "pathStyle": true, "credentials": { "mode": "accessKey", "secretName": "{{SecretName}}" } }""";

    public string LocalDestination => $$"""{ "type": "local", "path": "{{Json(Path.Combine(Root, "local-out"))}}" }""";

    /// <summary>What the local engine (the CLI's LocalPipeline) writes for the same activations at the same instant.</summary>
    public async Task<SortedDictionary<string, byte[]>> ExportLocallyAsync(IReadOnlyCollection<string> activationIds)
    {
        var config = ConfigLoader.Parse(Config(LocalDestination, snapshot: Path.Combine(Root, "snapshot")), Path.Combine(Root, "pipeline.json"));
        using (var local = await LocalPipeline.OpenAsync(Path.Combine(Root, "local", "state.db"), Path.Combine(Root, "local", "staging"),
                   new FrozenClock(Now), NullLoggerFactory.Instance, parallelism: 2))
        {
            var runs = await local.RunDueAsync(config.Activations.Where(a => activationIds.Contains(a.Id)), CancellationToken.None);
            Assert.That(runs.Select(r => r.Status), Has.All.EqualTo(RunStatus.Succeeded), string.Join("; ", runs.Select(r => r.Error)));
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var folder = Path.Combine(Root, "local-out", Prefix);
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            files[Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/')] = await File.ReadAllBytesAsync(f);
        return files;
    }

    /// <summary>Every object under the prefix in the test's bucket, read straight from fauxqs.</summary>
    public async Task<SortedDictionary<string, byte[]>> BucketAsync()
    {
        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var listing = await S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, Prefix = Prefix });
        foreach (var o in listing.S3Objects ?? [])
        {
            using var response = await S3.GetObjectAsync(Bucket, o.Key);
            using var bytes = new MemoryStream();
            await response.ResponseStream.CopyToAsync(bytes);
            result[o.Key[Prefix.Length..]] = bytes.ToArray();
        }
        return result;
    }

    /// <summary>Staging blobs still there for a run (any attempt).</summary>
    public static async Task<List<string>> StagingOfAsync(string runId)
    {
        var container = new BlobServiceClient(Emulators.Azurite.ConnectionString).GetBlobContainerClient(BlobStagingStore.ContainerName);
        var names = new List<string>();
        if (!await container.ExistsAsync()) return names;
        await foreach (var blob in container.GetBlobsAsync(new global::Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = runId }))
            names.Add(blob.Name);
        return names;
    }

    public static string RunOf(string activationId) => RunIds.ForSlot(activationId, Slot);

    private static string Json(string path) => path.Replace("\\", "\\\\", StringComparison.Ordinal);

    public void Dispose()
    {
        S3.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
