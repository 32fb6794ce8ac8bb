using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

/// <summary>
/// A process killed inside a stage (not only between stages), then restarted: the restart finishes the run with the
/// same bytes and one manifest, reuses what was recorded, and leaves nothing behind in the destination or staging.
/// </summary>
public partial class LocalPipelineCrashTests
{
    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    // Uncompressed and split at 6 MiB with 5 MiB parts: two files, the first in two parts, so every stage has an inside.
    private ExportSpec Spec(string source, string output) => _ws.Spec(source, output, s => s with
    {
        Output = s.Output with { Compression = OutputCompression.None },
        MaxFileSize = 6 * ByteSize.MiB,
        Tuning = s.Tuning with { ChunkSize = 256 * 1024, PartSize = FileNameDefaults.MinPartSize },
    });

    private const int ProfileCount = 300_000;

    /// <summary>Where the doomed process dies: right after the Nth call of a run-store or destination method returns.</summary>
    public sealed record Crash(string Port, string Method, int After)
    {
        public override string ToString() => $"after {Port}.{Method} #{After}";
    }

    private static readonly Crash[] Crashes =
    [
        new("store", nameof(IRunStore.RecordChunkAsync), 3),          // mid-build: some chunks recorded, the slice not done
        new("destination", nameof(IExportDestination.StartFileAsync), 1), // a file started, the assembly not recorded
        new("store", nameof(IRunStore.RecordPartAsync), 1),           // mid-upload: one part of three recorded
        new("destination", nameof(IExportDestination.UploadPartAsync), 2), // a part delivered, not recorded
        new("destination", nameof(IExportDestination.CompleteFileAsync), 1), // one file complete, the other not, no manifest
        new("destination", nameof(IExportDestination.PutObjectAsync), 1), // manifest written, run not marked succeeded
    ];

    [TestCaseSource(nameof(Crashes))]
    public async Task A_crash_inside_a_stage_then_a_restart_ends_with_the_same_bytes_and_no_litter(Crash crash)
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(ProfileCount));
        var clean = Path.Combine(_ws.Root, "clean");
        var cleanPipeline = await _ws.OpenPipelineAsync(Path.Combine(_ws.Root, "clean.db"), Path.Combine(_ws.Root, "clean-stage"));
        var cleanRun = (await cleanPipeline.RunDueAsync([TestWorkspace.Activation(Spec(source, clean))], CancellationToken.None)).Single();
        Assert.That(cleanRun.Status, Is.EqualTo(RunStatus.Succeeded), cleanRun.Error);
        var expected = TestWorkspace.Snapshot(clean);
        Assert.That(expected.Keys, Is.EquivalentTo(new[] { "test_001.csv", "test_002.csv", cleanRun.ManifestKey }), "the test needs a split export");

        var activation = TestWorkspace.Activation(Spec(source, _ws.Output));
        var (doomedRun, chunksRecorded) = await CrashAsync(activation, crash);
        Assert.That(doomedRun.Status, Is.Not.EqualTo(RunStatus.Succeeded).And.Not.EqualTo(RunStatus.Failed), "the crash must come while the run is in progress");

        var restarted = await _ws.OpenPipelineAsync();
        var run = (await restarted.RunDueAsync([activation], CancellationToken.None)).Single();

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.EqualTo(expected), "same bytes, one manifest, nothing under .incomplete/");
        Assert.That(Directory.Exists(Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder)), Is.False);
        Assert.That(Directory.Exists(_ws.Staging) ? Directory.EnumerateFiles(_ws.Staging, "*", SearchOption.AllDirectories) : [], Is.Empty, "staging is deleted");
        // What the crashed attempt recorded is reused: only the other chunks are built again.
        Assert.That(restarted.Progress.ChunksReused(run.RunId), Is.EqualTo(crash.Method == nameof(IRunStore.RecordChunkAsync) ? chunksRecorded : 0));
        var totalChunks = cleanPipeline.Progress.Chunks;
        var builtBefore = crash.Method == nameof(IRunStore.RecordChunkAsync) ? chunksRecorded : totalChunks;
        Assert.That(restarted.Progress.Chunks, Is.EqualTo(totalChunks - builtBefore));
    }

    [Test]
    public async Task A_restart_after_a_crash_mid_build_reuses_the_recorded_chunks_instead_of_building_them_again()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(ProfileCount));
        var activation = TestWorkspace.Activation(Spec(source, _ws.Output));
        var (_, recorded) = await CrashAsync(activation, new Crash("store", nameof(IRunStore.RecordChunkAsync), 5));
        Assert.That(recorded, Is.GreaterThanOrEqualTo(5));

        var restarted = await _ws.OpenPipelineAsync();
        var run = (await restarted.RunDueAsync([activation], CancellationToken.None)).Single();

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var chunks = (await restarted.Store.ListChunksAsync(run.RunId, CancellationToken.None)).Count;
        Assert.That(restarted.Progress.ChunksReused(run.RunId), Is.EqualTo(recorded));
        Assert.That(restarted.Progress.Chunks, Is.EqualTo(chunks - recorded), "chunks built by the restart");
        // The rows are all there exactly once, in order.
        var manifest = System.Text.Json.JsonSerializer.Deserialize<RunManifest>(File.ReadAllBytes(Path.Combine(_ws.Output, run.ManifestKey!)), Pipeline.Engine.EngineJson.Options)!;
        Assert.That(manifest.Totals.Rows, Is.EqualTo(Enumerable.Range(0, ProfileCount).Count(Profiles.IsMember)));
        var ids = string.Concat(manifest.Files.Select(f => File.ReadAllText(Path.Combine(_ws.Output, f.Key))));
        Assert.That(RowStart().Matches(ids).Select(m => m.Value), Is.EqualTo(Enumerable.Range(0, ProfileCount).Where(Profiles.IsMember).Select(i => $"p{i:D7},")));
    }

    [Test]
    public async Task A_run_that_fails_after_a_crash_between_starting_files_and_recording_them_leaves_no_partial_files()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(ProfileCount));
        var activation = TestWorkspace.Activation(Spec(source, _ws.Output));
        var (run, _) = await CrashAsync(activation, new Crash("destination", nameof(IExportDestination.StartFileAsync), 2));
        var incomplete = Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder);
        Assert.That(Directory.GetFiles(incomplete), Has.Length.EqualTo(2), "two files started, none recorded");

        var restarted = await _ws.OpenPipelineAsync();
        await restarted.Stages.FailRunAsync(run.RunId, run.Attempt, "given up by the operator", CancellationToken.None);

        Assert.That((await restarted.Store.GetRunAsync(run.RunId, CancellationToken.None))!.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.Empty, "nothing published, no partial file left for consumers to find");
        Assert.That(Directory.Exists(incomplete), Is.False);
    }

    [GeneratedRegex("(?m)^p[0-9]{7},")]
    private static partial Regex RowStart();

    /// <summary>Runs the activation in a "process" whose run store or destination dies at the crash point; returns the run and its recorded chunks.</summary>
    private async Task<(ExportRun Run, int ChunksRecorded)> CrashAsync(SegmentActivation activation, Crash crash)
    {
        using var dead = new CancellationTokenSource();
        IRunStore store = await SqliteRunStore.OpenAsync(_ws.State, CancellationToken.None);
        var sqlite = store;
        IDestinationFactory destinations = new LocalDestinationFactory();
        if (crash.Port == "store") store = CrashPoint.Wrap(store, crash.Method, crash.After, dead);
        else destinations = new CrashingDestinations(crash, dead);
        var queue = new InProcessWorkQueue();
        var stages = new ExportStages(store, new FolderStagingStore(_ws.Staging), destinations, queue, _ws.Time, NullLogger<ExportStages>.Instance, buildParallelism: 2);
        var scheduler = new ExportScheduler(store, queue, _ws.Time, NullLogger<ExportScheduler>.Instance);

        await scheduler.TickAsync([activation], CancellationToken.None);
        Exception? thrown = null;
        try { await queue.DrainAsync(stages.HandleAsync, (m, e) => stages.FailRunAsync(m.RunId, m.Attempt, e.Message, CancellationToken.None), 2, dead.Token); }
        catch (Exception e) { thrown = e; }
        var run = (await sqlite.ListRunsAsync(activation.Id, 10, CancellationToken.None)).Single();
        Assert.That(dead.IsCancellationRequested, $"the crash point {crash} was never reached; the run ended {run.Status}: {run.Error}");
        Assert.That(thrown, Is.InstanceOf<OperationCanceledException>());
        return (run, (await sqlite.ListChunksAsync(run.RunId, CancellationToken.None)).Count);
    }

    /// <summary>Local-folder destinations whose calls all go through one crash point, whichever stage opens them.</summary>
    private sealed class CrashingDestinations(Crash crash, CancellationTokenSource dead) : IDestinationFactory
    {
        private readonly Dictionary<string, IExportDestination> _open = [];

        public bool CanOpen(string type) => type == DestinationSpec.LocalType;

        public IExportDestination Open(DestinationSpec spec)
        {
            lock (_open)
            {
                if (!_open.TryGetValue(spec.Location, out var destination))
                    _open[spec.Location] = destination = CrashPoint.Wrap<IExportDestination>(new LocalFolderDestination(spec.Location), crash.Method, crash.After, dead);
                return destination;
            }
        }
    }
}
