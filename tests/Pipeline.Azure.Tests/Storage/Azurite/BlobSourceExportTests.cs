using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Azure.Sources;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Scheduling;
using Pipeline.Engine.Sources;
using Pipeline.Local;
using Pipeline.TestKit.Sources;

namespace Pipeline.Azure.Tests.Storage.Azurite;

/// <summary>
/// Exports whose snapshot is in Azurite blobs: the same files as from the same snapshot on disk, byte for byte, and a
/// Parquet snapshot read by ranges (footer and used column chunks), never downloaded whole.
/// </summary>
[Category("Integration")]
public sealed class BlobSourceExportTests
{
    private BlobContainerClient? _container;
    private string? _dir;
    private RequestLog _requests = new();

    private BlobContainerClient Container => _container ?? throw new InvalidOperationException("The container was not created (setup failed).");
    private string Dir => _dir ?? throw new InvalidOperationException("The folder was not created (setup failed).");

    [SetUp]
    public async Task SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-tests", "blob-sources-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _container = new BlobServiceClient(AzuriteSetUp.Endpoints.ConnectionString).GetBlobContainerClient("snapshots-" + Guid.NewGuid().ToString("N")[..12]);
        await _container.CreateAsync();
        _requests = new RequestLog();
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_container is not null) await _container.DeleteIfExistsAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { if (_dir is not null && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Test]
    public async Task A_csv_gz_snapshot_in_blobs_exports_the_same_bytes_as_on_disk()
    {
        var bytes = SnapshotFiles.CsvGzip(30_000);
        var local = await WriteLocalAsync("profiles.csv.gz", bytes);
        var url = await UploadAsync("daily/profiles.csv.gz", bytes);

        var fromDisk = await ExportAsync(local, "disk");
        var fromBlob = await ExportAsync(url, "blob");

        AssertSameExport(fromDisk, fromBlob);
        Assert.That(_requests.Gets.Count(g => g.Range is null), Is.EqualTo(2), "CSV is streamed with one GET per read (plan's column check, then the build)");
    }

    [Test]
    public async Task A_folder_of_csv_gz_blobs_exports_the_same_bytes_as_the_same_folder_on_disk()
    {
        var parts = new[] { SnapshotFiles.CsvGzip(7_000), SnapshotFiles.CsvGzip(3_000), SnapshotFiles.CsvGzip(5_000) };
        for (var i = 0; i < parts.Length; i++)
        {
            await WriteLocalAsync($"folder/part-{i:D5}.csv.gz", parts[i]);
            await UploadAsync($"daily/part-{i:D5}.csv.gz", parts[i]);
        }
        await WriteLocalAsync("folder/_SUCCESS", []);
        await UploadAsync("daily/_SUCCESS", []);

        var fromDisk = await ExportAsync(Path.Combine(Dir, "folder"), "disk");
        var fromBlob = await ExportAsync($"{AzuriteSetUp.Endpoints.BlobServiceUri}/{Container.Name}/daily", "blob");

        AssertSameExport(fromDisk, fromBlob);
    }

    [Test]
    public async Task A_parquet_snapshot_in_blobs_exports_the_same_bytes_as_on_disk_reading_ranges_not_the_whole_blob()
    {
        var bytes = await SnapshotFiles.ParquetAsync(rowGroups: 4, rowsPerGroup: 5_000);
        var local = await WriteLocalAsync("profiles.parquet", bytes);
        var url = await UploadAsync("daily/profiles.parquet", bytes);

        var fromDisk = await ExportAsync(local, "disk");
        var fromBlob = await ExportAsync(url, "blob");

        AssertSameExport(fromDisk, fromBlob);
        var gets = _requests.Gets.ToList();
        Assert.That(gets, Is.Not.Empty);
        Assert.That(gets.Where(g => g.Range is null), Is.Empty, "every GET of a Parquet blob is ranged");
        var fetched = gets.Sum(g => g.Bytes);
        await TestContext.Out.WriteLineAsync($"Parquet blob of {bytes.Length} bytes: {fetched} bytes fetched in {gets.Count} ranged GETs (plan and build)");
        Assert.That(fetched, Is.LessThan(bytes.Length / 3),
            $"{fetched} of {bytes.Length} bytes fetched in {gets.Count} ranged GETs: the unused padding column must stay in the blob");
    }

    [Test]
    public async Task A_blob_deleted_after_planning_fails_the_run_saying_the_snapshot_changed()
    {
        var url = await UploadAsync("daily/profiles.csv.gz", SnapshotFiles.CsvGzip(100));
        using var pipeline = await OpenPipelineAsync("gone");
        var spec = Spec(url, Path.Combine(Dir, "out-gone"));
        var run = await pipeline.Scheduler.NewRunAsync(RunIds.ForAdHoc(spec, Time.GetUtcNow()), spec, Time.GetUtcNow(), CancellationToken.None);
        await pipeline.Store.CreateRunIfAbsentAsync(run, CancellationToken.None);
        await pipeline.Stages.HandleAsync(new PlanExport(run.RunId) { Attempt = 1 }, CancellationToken.None);
        await Container.GetBlobClient("daily/profiles.csv.gz").DeleteAsync();

        await pipeline.Stages.HandleAsync(new BuildSlice(run.RunId, 0) { Attempt = 1 }, CancellationToken.None);

        var failed = await pipeline.Store.GetRunAsync(run.RunId, CancellationToken.None);
        Assert.That(failed!.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(failed.Error, Does.Contain(url).And.Contain("no longer exists"));
    }

    private static readonly FakeTimeProvider Time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    private async Task<string> WriteLocalAsync(string name, byte[] bytes)
    {
        var path = Path.Combine(Dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, bytes);
        return path;
    }

    private async Task<string> UploadAsync(string name, byte[] bytes)
    {
        await Container.GetBlobClient(name).UploadAsync(BinaryData.FromBytes(bytes), overwrite: true);
        return $"{AzuriteSetUp.Endpoints.BlobServiceUri}/{Container.Name}/{name}";
    }

    private Task<LocalPipeline> OpenPipelineAsync(string name)
    {
        var options = new BlobClientOptions();
        options.AddPolicy(_requests, HttpPipelinePosition.PerRetry);
        var sources = new SourceStores(FileSourceStore.Instance, new BlobSourceStore(options: options));
        return LocalPipeline.OpenAsync(Path.Combine(Dir, name, "state.db"), Path.Combine(Dir, name, "staging"), Time, NullLoggerFactory.Instance,
            new LocalPipelineOptions { Parallelism = 2, Sources = sources }, CancellationToken.None);
    }

    private static ExportSpec Spec(string source, string output) => new()
    {
        ActivationId = "blob",
        Source = new SourceSpec { Path = source },
        SegmentId = "S1",
        Fields = [new OutputField("profileId", "id"), new OutputField("email", "email"), new OutputField("name", "name")],
        Destination = new DestinationSpec { Name = "local", Type = "local", Location = output },
        FileName = "{activation}_{index:3}",
        // Small chunks and files: several chunks per slice and a split, so order and boundaries are compared too.
        MaxFileSize = 5 * ByteSize.MiB,
        Tuning = new TuningSpec { ChunkSize = 256 * 1024, Parallelism = 2 },
    };

    /// <summary>Runs one export of <paramref name="source"/> and returns the files it delivered, by name.</summary>
    private async Task<SortedDictionary<string, byte[]>> ExportAsync(string source, string name)
    {
        var output = Path.Combine(Dir, "out-" + name);
        using var pipeline = await OpenPipelineAsync(name);
        var activation = new SegmentActivation("blob", true, Spec(source, output),
            ExportSchedule.FromCron("0 2 * * *", TimeZoneInfo.Utc, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)));
        var run = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(output, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            files[Path.GetRelativePath(output, f)] = await File.ReadAllBytesAsync(f);
        return files;
    }

    private static void AssertSameExport(SortedDictionary<string, byte[]> fromDisk, SortedDictionary<string, byte[]> fromBlob)
    {
        Assert.That(fromDisk.Keys.Count(k => k.EndsWith(".csv.gz", StringComparison.Ordinal)), Is.GreaterThan(0), "two empty exports would compare equal");
        Assert.That(fromBlob.Keys, Is.EqualTo(fromDisk.Keys));
        foreach (var (key, bytes) in fromDisk)
            Assert.That(SnapshotFiles.Sha256(fromBlob[key]), Is.EqualTo(SnapshotFiles.Sha256(bytes)), key);
    }

    /// <summary>Every GET sent to the blob service: its range header (null: the whole blob) and the body bytes answered.</summary>
    private sealed class RequestLog : HttpPipelineSynchronousPolicy
    {
        public ConcurrentQueue<(string Path, string? Range, long Bytes)> Gets { get; } = new();

        public override void OnReceivedResponse(HttpMessage message)
        {
            if (message.Request.Method != RequestMethod.Get || message.Request.Uri.Query.Contains("comp=list", StringComparison.Ordinal)) return;
            var range = message.Request.Headers.TryGetValue("x-ms-range", out var r) ? r : message.Request.Headers.TryGetValue("Range", out var h) ? h : null;
            Gets.Enqueue((message.Request.Uri.Path, range, message.Response.Headers.ContentLength ?? 0));
        }
    }
}
