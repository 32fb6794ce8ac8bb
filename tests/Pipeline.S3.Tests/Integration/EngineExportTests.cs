using System.Diagnostics;
using System.Globalization;
using System.Text;
using Amazon.S3;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Scheduling;
using Pipeline.Local;
using Pipeline.S3.Delivery;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Integration;

/// <summary>
/// The whole engine (LocalPipeline: plan, build, assemble, upload parts, complete, manifest) exporting to
/// each emulator, compared byte for byte with the same exports to a local folder: a split CSV whose first
/// file is a multipart upload and whose second is a single put, and a small gzip TSV.
/// </summary>
[TestFixtureSource(typeof(Emulators), nameof(Emulators.All))]
[Category("Integration")]
public sealed class EngineExportTests(EmulatorKind kind)
{
    private const string Prefix = "audiences/";
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private S3Emulator _emulator = null!;
    private AmazonS3Client _direct = null!;
    private string _bucket = null!;
    private string _root = null!;

    [OneTimeSetUp]
    public async Task StartEmulator()
    {
        _emulator = await Emulators.GetAsync(kind);
        _bucket = $"engine-{kind.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}"[..32];
        _direct = DirectClient(_emulator.DirectEndpoint, _emulator.Compatibility);
        await _direct.PutBucketAsync(_bucket);
        _root = Path.Combine(Path.GetTempPath(), "pipeline-s3-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        // Null-safe: without an emulator the setup fails before these are set, and its error is the one to see.
        _direct?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_root is null) return;
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    /// <summary>Profiles with a long notes column (so the output passes 6 MiB) and values that need quoting.</summary>
    private string WriteSource(int rows)
    {
        var path = Path.Combine(_root, "profiles.csv");
        var csv = new StringBuilder("profileId,email,name,notes,segments\n");
        for (var i = 0; i < rows; i++)
        {
            var name = (i % 5) switch { 0 => "\"O\"\"Neil, Jr.\"", 1 => "Zoë 李", _ => "plain" + i };
            var segments = i % 3 == 1 ? "S2" : "S1;S2";
            csv.Append(CultureInfo.InvariantCulture, $"p{i:D7},user{i}@example.com,{name},note {i} {new string((char)('a' + i % 26), 90)},{segments}\n");
        }
        File.WriteAllText(path, csv.ToString());
        return path;
    }

    private static SegmentActivation Activation(string id, string source, DestinationSpec destination, Func<ExportSpec, ExportSpec> change)
    {
        var spec = new ExportSpec
        {
            ActivationId = id,
            Source = new SourceSpec { Path = source },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "id"), new OutputField("email", "email"), new OutputField("name", "name"), new OutputField("notes", "notes")],
            Destination = destination,
            FileName = "{activation}/{runTime:yyyyMMdd}_{index:3}",
            Tuning = new TuningSpec { ChunkSize = MiB, Parallelism = 2, PartSize = 5 * MiB },
        };
        return new SegmentActivation(id, true, change(spec), ExportSchedule.FromCron("0 2 * * *", TimeZoneInfo.Utc, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)));
    }

    private static IReadOnlyList<SegmentActivation> Activations(string source, DestinationSpec destination) =>
    [
        Activation("big-csv", source, destination, s => s with { Output = s.Output with { Compression = OutputCompression.None }, MaxFileSize = 6 * MiB }),
        Activation("small-tsv", source, destination, s => s with { Output = s.Output with { Format = OutputFormat.Tsv }, Fields = s.Fields.Take(2).ToList() }),
    ];

    private async Task<IReadOnlyList<ExportRun>> RunAsync(string name, IReadOnlyList<SegmentActivation> activations, IDestinationFactory? destinations)
    {
        var pipeline = await LocalPipeline.OpenAsync(Path.Combine(_root, name, "state.db"), Path.Combine(_root, name, "staging"),
            new FakeTimeProvider(Now), NullLoggerFactory.Instance, parallelism: 2, destinations: destinations);
        return await pipeline.RunDueAsync(activations, CancellationToken.None);
    }

    [Test]
    public async Task An_export_to_S3_writes_the_same_bytes_and_manifest_as_the_same_export_to_a_local_folder()
    {
        var source = WriteSource(70_000);
        var localOut = Path.Combine(_root, "out");
        var local = await RunAsync("local", Activations(source, new DestinationSpec { Name = "local", Type = DestinationSpec.LocalType, Location = localOut, Prefix = Prefix }), null);

        using var s3Factory = Factory();
        var s3 = await RunAsync("s3", Activations(source, Spec(_emulator.Endpoint, _bucket, Prefix, compatibility: _emulator.Compatibility)),
            new DestinationFactories(s3Factory));

        Assert.That(local.Select(r => r.Status), Has.All.EqualTo(RunStatus.Succeeded), string.Join("; ", local.Select(r => r.Error)));
        Assert.That(s3.Select(r => r.Status), Has.All.EqualTo(RunStatus.Succeeded), string.Join("; ", s3.Select(r => r.Error)));
        var expected = LocalSnapshot(Path.Combine(localOut, Prefix));
        var actual = await SnapshotAsync(_direct, _bucket, Prefix);
        Assert.That(actual.Keys, Is.EqualTo(expected.Keys));
        Assert.That(expected.Keys, Has.Exactly(2).EndsWith(".manifest.json"));
        Assert.That(expected.Keys.Count(k => k.StartsWith("big-csv/", StringComparison.Ordinal) && k.EndsWith(".csv", StringComparison.Ordinal)), Is.EqualTo(2), "split in two");
        Assert.That(expected["big-csv/20261123_001.csv"].Length, Is.GreaterThan(S3Destination.SinglePutThreshold), "the first file is a multipart upload");
        foreach (var (key, bytes) in expected) Assert.That(actual[key], Is.EqualTo(bytes), key);

        // An independent reader (the AWS SDK for JavaScript) sees the same bytes.
        Assert.That(await ReadWithNodeAsync(Prefix + "big-csv/20261123_001.csv"), Is.EqualTo(expected["big-csv/20261123_001.csv"]));
    }

    private static SortedDictionary<string, byte[]> LocalSnapshot(string folder)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            files[Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/')] = File.ReadAllBytes(f);
        return files;
    }

    private async Task<byte[]> ReadWithNodeAsync(string key)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = EmulatorProcess.EmulatorsFolder(), RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "read-object.mjs", _emulator.DirectEndpoint, _bucket, key }) start.ArgumentList.Add(arg);
        using var node = Process.Start(start)!;
        using var bytes = new MemoryStream();
        var stderr = node.StandardError.ReadToEndAsync();
        await node.StandardOutput.BaseStream.CopyToAsync(bytes);
        await node.WaitForExitAsync();
        Assert.That(node.ExitCode, Is.Zero, await stderr);
        return bytes.ToArray();
    }
}
