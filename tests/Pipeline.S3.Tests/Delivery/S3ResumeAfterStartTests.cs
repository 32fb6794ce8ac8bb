using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Scheduling;
using Pipeline.Local;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Delivery;

/// <summary>
/// The engine against the fake S3: an upload of a run's file that no assembly records (started by an attempt that died
/// before recording it, or made twice by a store for one resent create) is aborted at once instead of left to the 7-day sweep.
/// </summary>
public sealed class S3ResumeAfterStartTests : FakeS3Fixture
{
    private string? _root;

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "pipeline-s3-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void DeleteRoot()
    {
        if (_root is null) return; // the setup failed before creating it
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    [Test]
    public async Task A_resumed_run_aborts_the_upload_a_crashed_attempt_started_but_never_recorded()
    {
        var (spec, activation) = await BigExportAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        var state = Path.Combine(_root!, "state.db");
        var staging = Path.Combine(_root!, "staging");
        const string key = "exports/big_001.csv";

        // The doomed attempt: says it is starting the file, starts it (upload-1), and dies before recording the assembly.
        var doomed = await LocalPipeline.OpenAsync(state, staging, time, NullLoggerFactory.Instance, 2, Destinations);
        await doomed.Scheduler.TickAsync([activation], CancellationToken.None);
        using (var crash = new CancellationTokenSource())
        {
            Assert.That(async () => await doomed.DrainAsync(crash.Token, async (message, ct) =>
            {
                if (message is not AssembleFiles) { await doomed.Stages.HandleAsync(message, ct); return; }
                await doomed.Store.SetOnceAsync(message.RunId, ExportStages.Documents.FileStarts, new FileStartIntent("dead-attempt", [key]), ct);
                Assert.That(await Destinations.Open(spec.Destination).StartFileAsync(message.RunId, key, 7 * ByteSize.MiB, new("text/csv", null), ct), Is.EqualTo("upload-1"));
                await crash.CancelAsync();
                crash.Token.ThrowIfCancellationRequested();
            }), Throws.InstanceOf<OperationCanceledException>());
        }
        // The crashed process is gone: its run locks go with it, as they would with a killed process.
        doomed.Dispose();
        // ListMultipartUploads now shows the orphan and, once the restart has started its own, upload-2 as well.
        S3.UploadPages.Add([(key, "upload-1", null), (key, "upload-2", null)]);

        using var restarted = await LocalPipeline.OpenAsync(state, staging, time, NullLoggerFactory.Instance, 2, Destinations);
        var run = (await restarted.RunDueAsync([activation], CancellationToken.None)).Single();

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var assembly = (await restarted.Store.GetDocumentAsync<AssemblyPlan>(run.RunId, ExportStages.Documents.Assembly, CancellationToken.None))!;
        Assert.That(assembly.Files.Select(f => (f.Key, f.UploadId)), Is.EqualTo(new[] { (key, "upload-2") }));
        Assert.That(assembly.Files[0].PartCount, Is.GreaterThan(1), "a multipart upload");
        var lists = S3.Requests.Where(r => r.Method == "GET" && r.HasQuery("uploads")).ToList();
        Assert.That(lists.Select(r => r.QueryValue("prefix")), Is.EqualTo(new[] { key }));
        var aborts = S3.Requests.Where(r => r.Method == "DELETE" && r.HasQuery("uploadId")).Select(r => r.QueryValue("uploadId"));
        Assert.That(aborts, Is.EqualTo(new[] { "upload-1" }), "the orphan goes, the recorded upload stays");
        var completions = S3.Requests.Where(r => r.Method == "POST" && r.HasQuery("uploadId")).Select(r => r.QueryValue("uploadId"));
        Assert.That(completions, Is.EqualTo(new[] { "upload-2" }));
    }

    [Test]
    public async Task An_upload_the_store_made_twice_for_one_start_is_aborted_when_the_file_is_recorded()
    {
        var (spec, activation) = await BigExportAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        const string key = "exports/big_001.csv";
        // The create whose answer a connection reset lost: the store made upload-1, and the resent create makes upload-2.
        Assert.That(await Destinations.Open(spec.Destination).StartFileAsync("lost-answer", key, 7 * ByteSize.MiB, new("text/csv", null), CancellationToken.None),
            Is.EqualTo("upload-1"));
        S3.UploadPages.Add([(key, "upload-1", null), (key, "upload-2", null)]);

        using var pipeline = await LocalPipeline.OpenAsync(Path.Combine(_root!, "state.db"), Path.Combine(_root!, "staging"), time, NullLoggerFactory.Instance, 2, Destinations);
        var run = (await pipeline.RunDueAsync([activation], CancellationToken.None)).Single();

        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);
        var aborts = S3.Requests.Where(r => r.Method == "DELETE" && r.HasQuery("uploadId")).Select(r => r.QueryValue("uploadId"));
        Assert.That(aborts, Is.EqualTo(new[] { "upload-1" }), "the upload nothing records goes, the recorded one stays");
        var completions = S3.Requests.Where(r => r.Method == "POST" && r.HasQuery("uploadId")).Select(r => r.QueryValue("uploadId"));
        Assert.That(completions, Is.EqualTo(new[] { "upload-2" }));
    }

    /// <summary>300,000 rows of segment S1 to the fake S3: one file of several 5 MiB parts.</summary>
    private async Task<(ExportSpec Spec, SegmentActivation Activation)> BigExportAsync()
    {
        var source = Path.Combine(_root!, "profiles.csv");
        var csv = new StringBuilder("profileId,email,segments\n");
        for (var i = 0; i < 300_000; i++) csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"p{i:D7},user{i}@example.com,S1\n");
        await File.WriteAllTextAsync(source, csv.ToString());
        var spec = new ExportSpec
        {
            ActivationId = "big",
            Source = new SourceSpec { Path = source },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "id"), new OutputField("email", "email")],
            Destination = Spec(S3.Endpoint, "customer-bucket", "exports/"),
            FileName = "{activation}_{index:3}",
            Output = new FormatSpec { Compression = OutputCompression.None },
            Tuning = new TuningSpec { ChunkSize = ByteSize.MiB, Parallelism = 2, PartSize = 5 * ByteSize.MiB },
        };
        var activation = new SegmentActivation("big", true, spec, ExportSchedule.FromCron("0 2 * * *", TimeZoneInfo.Utc, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)));
        return (spec, activation);
    }
}
