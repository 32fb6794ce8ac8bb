using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Tests.Building;

/// <summary>SliceBuilder: chunk records are written in the background by one writer, each after its chunk is staged.</summary>
public class SliceBuilderTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "slice-tests-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Every_chunk_is_recorded_after_it_is_staged_and_before_the_build_returns()
    {
        var (run, slice) = Plan(rows: 20_000);
        var staging = new MemoryStaging();
        var store = Fake.Create<IRunStore>((method, args) => method switch
        {
            nameof(IRunStore.ListChunksAsync) => Task.FromResult<IReadOnlyList<ChunkRecord>>([]),
            nameof(IRunStore.RecordChunkAsync) => Record((ChunkRecord)args[1]!, staging),
            _ => throw new NotSupportedException(method),
        });
        var progress = new ExportProgress();

        var chunks = await new SliceBuilder(staging, store, progress, new SemaphoreSlim(2, 2)).BuildAsync(run, slice, CancellationToken.None);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(chunks, Is.GreaterThan(3), "the input spans several chunks");
            Assert.That(Recorded.Select(r => r.Seq).Order(), Is.EqualTo(Enumerable.Range(0, chunks)));
            Assert.That(Recorded.Sum(r => r.RowsRead), Is.EqualTo(20_000));
            Assert.That(progress.RowsRead, Is.EqualTo(20_000));
            Assert.That(progress.Chunks, Is.EqualTo(chunks));
            var text = string.Concat(Recorded.OrderBy(r => r.Seq).Where(r => r.StagingKey is not null).Select(r => Gunzip(staging.Objects[r.StagingKey!])));
            Assert.That(text, Is.EqualTo(string.Concat(Enumerable.Range(0, 20_000).Where(i => i % 3 == 0).Select(i => $"p{i}\n"))));
        }
    }

    [Test]
    public async Task A_failing_state_store_fails_the_build_with_its_own_error()
    {
        var (run, slice) = Plan(rows: 20_000);
        var staging = new MemoryStaging();
        var store = Fake.Create<IRunStore>((method, _) => method switch
        {
            nameof(IRunStore.ListChunksAsync) => Task.FromResult<IReadOnlyList<ChunkRecord>>([]),
            nameof(IRunStore.RecordChunkAsync) => Task.FromException(new IOException("state store is gone")),
            _ => throw new NotSupportedException(method),
        });

        var e = await Assert.ThrowsAsync<IOException>(() => new SliceBuilder(staging, store, new ExportProgress(), new SemaphoreSlim(2, 2)).BuildAsync(run, slice, CancellationToken.None));

        Assert.That(e?.Message, Is.EqualTo("state store is gone"));
    }

    [Test]
    public async Task Under_skip_the_build_stops_once_the_slice_alone_has_skipped_more_than_max_skipped_rows()
    {
        // Every row from 2,000 on has two columns of three: 18,000 malformed rows over many chunks.
        var (run, slice) = Plan(rows: 20_000, malformedFrom: 2_000);
        run = run with { Spec = run.Spec with { OnMalformedRow = MalformedRowPolicy.Skip, MaxSkippedRows = 100 } };
        var staging = new MemoryStaging();
        var store = Fake.Create<IRunStore>((method, args) => method switch
        {
            nameof(IRunStore.ListChunksAsync) => Task.FromResult<IReadOnlyList<ChunkRecord>>([]),
            nameof(IRunStore.RecordChunkAsync) => Record((ChunkRecord)args[1]!, staging),
            _ => throw new NotSupportedException(method),
        });

        var e = await Assert.ThrowsAsync<Pipeline.Engine.Sources.SourceException>(() => new SliceBuilder(staging, store, new ExportProgress(), new SemaphoreSlim(2, 2)).BuildAsync(run, slice, CancellationToken.None));

        // Chunks finish in any order: the message names one malformed line, and a count so far.
        Assert.That(e?.Message, Does.StartWith("Activation \"vip\" skipped at least ").And.Contain("source lines as malformed, more than maxSkippedRows (100)")
            .And.Match(@"one of them: \S+profiles\.csv, line [0-9]+: has 2 columns, the header has 3"));
        Assert.That(Recorded.Sum(r => r.RowsSkipped), Is.LessThan(18_000), "it stopped before the end of the slice");
    }

    [Test]
    public async Task A_source_file_rewritten_after_the_plan_fails_the_build_and_no_chunk_of_it_is_recorded()
    {
        var (run, slice) = Plan(rows: 2_000);
        slice = slice with { Version = Pipeline.Engine.Sources.FileSourceStore.Entry(slice.Path).Version };
        await File.AppendAllTextAsync(slice.Path, "p-new,new@example.com,S1\n");
        var staging = new MemoryStaging();
        var store = Fake.Create<IRunStore>((method, args) => method switch
        {
            nameof(IRunStore.ListChunksAsync) => Task.FromResult<IReadOnlyList<ChunkRecord>>([]),
            nameof(IRunStore.RecordChunkAsync) => Record((ChunkRecord)args[1]!, staging),
            _ => throw new NotSupportedException(method),
        });

        var e = await Assert.ThrowsAsync<Pipeline.Engine.Sources.SourceException>(() => new SliceBuilder(staging, store, new ExportProgress(), new SemaphoreSlim(2, 2)).BuildAsync(run, slice, CancellationToken.None));

        Assert.That(e!.IsChanged, Is.True, e.Message);
        Assert.That(e.Message, Does.Contain("profiles.csv changed while the export read it"));
        Assert.That(Recorded, Is.Empty);
    }

    private ConcurrentBag<ChunkRecord> Recorded { get; } = [];

    private Task Record(ChunkRecord record, MemoryStaging staging)
    {
        if (record.StagingKey is { } key && !staging.Objects.ContainsKey(key)) throw new InvalidOperationException($"chunk {record.Seq} recorded before it was staged");
        Recorded.Add(record);
        return Task.CompletedTask;
    }

    private (ExportRun Run, SlicePlan Slice) Plan(int rows, int malformedFrom = int.MaxValue)
    {
        var path = Path.Combine(_dir, "profiles.csv");
        var csv = new StringBuilder("profileId,email,segments\n");
        for (var i = 0; i < rows; i++)
        {
            if (i >= malformedFrom) csv.Append(CultureInfo.InvariantCulture, $"p{i},S1\n");
            else csv.Append(CultureInfo.InvariantCulture, $"p{i},user{i}@example.com,{(i % 3 == 0 ? "S1;S2" : "S2")}\n");
        }
        File.WriteAllText(path, csv.ToString());
        var spec = new ExportSpec
        {
            ActivationId = "vip",
            Source = new SourceSpec { Path = path },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "profileId")],
            Destination = new DestinationSpec { Name = "out", Type = "local", Location = "/unused" },
            Tuning = new TuningSpec { ChunkSize = 64 * 1024, Parallelism = 2 },
        };
        var run = new ExportRun { RunId = "run-1", ActivationId = "vip", Slot = DateTimeOffset.UnixEpoch, Spec = spec, CreatedAt = DateTimeOffset.UnixEpoch };
        return (run, new SlicePlan(0, path, new FileInfo(path).Length, SourceFormat.Csv, false));
    }

    private static string Gunzip(byte[] bytes)
    {
        using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private sealed class MemoryStaging : IStagingStore
    {
        public ConcurrentDictionary<string, byte[]> Objects { get; } = new();

        public Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            Objects[key] = content.ToArray();
            return Task.CompletedTask;
        }

        public Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}

/// <summary>An interface answered by one function of (method name, arguments): for ports with many members a test barely uses.</summary>
public static class Fake
{
    public static T Create<T>(Func<string, object?[], object?> answer) where T : class
    {
        var proxy = DispatchProxy.Create<T, FakeProxy>();
        ((FakeProxy)(object)proxy).Answer = answer;
        return proxy;
    }
}

public class FakeProxy : DispatchProxy
{
    internal Func<string, object?[], object?> Answer { get; set; } = (m, _) => throw new NotSupportedException(m);

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => Answer(targetMethod!.Name, args ?? []);
}
