using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Local;

namespace Pipeline.Engine.Tests.Runs;

/// <summary>A fixture with a fresh <see cref="RunHarness"/> for every test, disposed after it.</summary>
public abstract class RunHarnessFixture
{
    private RunHarness? _harness;

    private protected RunHarness H => _harness ?? throw new InvalidOperationException("The harness was not created (setup failed).");

    private protected static readonly CancellationToken None = CancellationToken.None;

    [SetUp]
    public async Task CreateHarness() => _harness = await RunHarness.CreateAsync();

    [TearDown]
    public void DisposeHarness() => _harness?.Dispose();

    /// <summary>Two source files, a.csv (profiles 0-39) and b.csv (40-69), in a folder: the folder's path.</summary>
    private protected string TwoSourceFiles()
    {
        H.WriteSource("a.csv", 40);
        return Path.GetDirectoryName(H.WriteSource("b.csv", 30, first: 40))!;
    }
}

/// <summary>
/// The run stages on the local adapters (SQLite state, a staging folder) with a queue, a destination and loggers that
/// record what they were given, so a test drives a run message by message and sees every hand-off, upload and log line.
/// </summary>
internal sealed class RunHarness : IDisposable
{
    public static readonly DateTimeOffset Slot = new(2026, 12, 7, 2, 0, 0, TimeSpan.Zero);

    private RunHarness(string root, SqliteRunStore store)
    {
        Root = root;
        Inner = store;
        (Store, Spy) = StoreSpy.Wrap(store);
        Staging = new RecordingStaging(new FolderStagingStore(Path.Combine(root, "staging")));
        Destinations = new MemoryDestinationFactory(Destination);
        Stages = NewStages();
        Scheduler = new ExportScheduler(Store, Queue, Time, SchedulerLog);
    }

    public string Root { get; }
    /// <summary>The run store the stages use: <see cref="Inner"/> behind <see cref="Spy"/>.</summary>
    public IRunStore Store { get; }
    /// <summary>The SQLite store itself, for a spy step that must not meet itself.</summary>
    public IRunStore Inner { get; }
    public StoreSpy Spy { get; }
    public RecordingStaging Staging { get; }
    public RecordingQueue Queue { get; } = new();
    public MemoryDestination Destination { get; } = new();
    public MemoryDestinationFactory Destinations { get; }
    public FakeTimeProvider Time { get; } = new(Slot.AddSeconds(30));
    public RecordingLogger<ExportStages> StageLog { get; } = new();
    public RecordingLogger<ExportScheduler> SchedulerLog { get; } = new();
    public ExportStages Stages { get; }
    public ExportScheduler Scheduler { get; }

    /// <summary>Stages on this harness's ports, reading sources through <paramref name="sources"/> (local files when null).</summary>
    public ExportStages NewStages(ISourceStore? sources = null) =>
        new(Store, Staging, Destinations, Queue, Time, StageLog, buildParallelism: 2, sources: sources);

    public static async Task<RunHarness> CreateAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), "run-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        return new RunHarness(root, await SqliteRunStore.OpenAsync(Path.Combine(root, "state.db"), CancellationToken.None));
    }

    /// <summary>A CSV snapshot file: <paramref name="rows"/> profiles p0, p1, ... with every third one outside segment S1.</summary>
    public string WriteSource(string name, int rows, int first = 0)
    {
        var csv = new StringBuilder("profileId,email,segments,updatedAt\n");
        for (var i = first; i < first + rows; i++) csv.Append(Row(i));
        var path = Path.Combine(Root, "source", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, csv.ToString());
        return path;
    }

    public static string Row(int i) => $"p{i},user{i}@example.com,{(IsMember(i) ? "S1;S2" : "S2")},2026-12-0{1 + i % 5}T00:00:00Z\n";

    public static bool IsMember(int i) => i % 3 != 1;

    public ExportSpec Spec(string source, Func<ExportSpec, ExportSpec>? change = null)
    {
        var spec = new ExportSpec
        {
            ActivationId = "vip",
            Source = new SourceSpec { Path = source },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "id"), new OutputField("email", "email")],
            Output = new FormatSpec { Compression = OutputCompression.None },
            Destination = new DestinationSpec { Name = "out", Type = DestinationSpec.LocalType, Location = "/out", Prefix = "daily/" },
            FileName = "{activation}_{index:3}",
            Tuning = new TuningSpec { ChunkSize = 64 * 1024, Parallelism = 2, PartSize = 64 },
        };
        return change is null ? spec : change(spec);
    }

    /// <summary>Creates the run for <see cref="Slot"/> in Planning, its PlanExport not sent yet.</summary>
    public async Task<ExportRun> CreateRunAsync(ExportSpec spec) =>
        await Store.CreateRunIfAbsentAsync(await Scheduler.NewRunAsync(RunIds.ForSlot(spec.ActivationId, Slot), spec, Slot, CancellationToken.None), CancellationToken.None);

    /// <summary>Handles queued messages, and those they send, until none is left; returns the run as stored then.</summary>
    public async Task<ExportRun> DrainAsync(string runId)
    {
        while (Queue.TryTake(out var message)) await Stages.HandleAsync(message, CancellationToken.None);
        return await GetRunAsync(runId);
    }

    /// <summary>Sends the run's PlanExport and handles every message until the run stops moving.</summary>
    public async Task<ExportRun> ExportAsync(ExportSpec spec)
    {
        var run = await CreateRunAsync(spec);
        await StageHandOff.SendPendingAsync(Store, Queue, run, CancellationToken.None);
        return await DrainAsync(run.RunId);
    }

    /// <summary>
    /// Creates the run (failed and retried up to attempt <paramref name="attempt"/>) and handles its messages until the next
    /// one is a <typeparamref name="T"/>, which is dropped with any others queued: the run waits there, handed off.
    /// </summary>
    public async Task<ExportRun> DriveUntilAsync<T>(ExportSpec spec, int attempt = 1) where T : StageMessage
    {
        var run = await CreateRunAsync(spec);
        if (attempt == 1) await StageHandOff.SendPendingAsync(Store, Queue, run, CancellationToken.None);
        for (var n = 1; n < attempt; n++)
        {
            await Store.TryMarkFailedAsync(run.RunId, n, "boom", Time.GetUtcNow(), CancellationToken.None);
            Queue.Clear();
            await Scheduler.RetryAsync(await GetRunAsync(run.RunId), spec, CancellationToken.None);
        }
        while (Queue.TryTake(out var message))
        {
            if (message is T)
            {
                Queue.Clear();
                break;
            }
            await Stages.HandleAsync(message, CancellationToken.None);
        }
        return await GetRunAsync(run.RunId);
    }

    public async Task<ExportRun> GetRunAsync(string runId) =>
        await Store.GetRunAsync(runId, CancellationToken.None) ?? throw new InvalidOperationException($"no run {runId}");

    public string[] StagedFiles() =>
        Directory.Exists(Staging.Root) ? Directory.GetFiles(Staging.Root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Staging.Root, f)).Order(StringComparer.Ordinal).ToArray() : [];

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A queue that keeps what it is given, in order, for the test to look at and hand to the stages.</summary>
internal sealed class RecordingQueue : IWorkQueue
{
    private readonly Queue<StageMessage> _pending = new();

    public List<StageMessage> Sent { get; } = [];

    /// <summary>How many messages each enqueue carried.</summary>
    public List<int> Batches { get; } = [];

    /// <summary>Set to make the next enqueue fail, as a queue outage between a status change and its hand-off would.</summary>
    public Exception? FailNext { get; set; }

    public Task EnqueueAsync(IReadOnlyCollection<StageMessage> messages, CancellationToken cancellationToken)
    {
        if (FailNext is { } e)
        {
            FailNext = null;
            return Task.FromException(e);
        }
        lock (_pending)
        {
            Batches.Add(messages.Count);
            Sent.AddRange(messages);
            foreach (var m in messages) _pending.Enqueue(m);
        }
        return Task.CompletedTask;
    }

    public bool TryTake(out StageMessage message)
    {
        lock (_pending) return _pending.TryDequeue(out message!);
    }

    /// <summary>Forgets what was sent (the messages are lost, as a crash would lose them).</summary>
    public List<StageMessage> Clear()
    {
        lock (_pending)
        {
            var sent = Sent.ToList();
            Sent.Clear();
            Batches.Clear();
            _pending.Clear();
            return sent;
        }
    }
}

/// <summary>Staging in a folder, recording every read: which key, from where, how many bytes.</summary>
internal sealed class RecordingStaging(FolderStagingStore folder) : IStagingStore
{
    public string Root => folder.Root;

    public ConcurrentQueue<(string Key, long Offset, long Length)> Reads { get; } = new();

    public ConcurrentQueue<(string Key, int Length)> Writes { get; } = new();

    public Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        Writes.Enqueue((key, content.Length));
        return folder.WriteAsync(key, content, cancellationToken);
    }

    public Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        Reads.Enqueue((key, offset, length));
        return folder.OpenReadAsync(key, offset, length, cancellationToken);
    }

    public Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken) => folder.GetLengthAsync(key, cancellationToken);

    public Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken) => folder.DeletePrefixAsync(prefix, cancellationToken);
}

/// <summary>A destination in memory with multipart semantics; records every call as one line in <see cref="Calls"/>.</summary>
internal sealed class MemoryDestination : IExportDestination
{
    private readonly ConcurrentDictionary<string, (string Key, ConcurrentDictionary<int, byte[]> Parts)> _uploads = new();
    private int _nextUpload;

    public ConcurrentDictionary<string, byte[]> Objects { get; } = new();
    public ConcurrentDictionary<string, ObjectProperties> Properties { get; } = new();
    public ConcurrentQueue<string> Calls { get; } = new();
    public PartLimits PartLimits { get; set; } = new(1, 5 * ByteSize.GiB, 10_000, 5 * ByteSize.TiB);

    /// <summary>Called before an abort: throw to make it fail.</summary>
    public Action<string> OnAbort { get; set; } = _ => { };

    /// <summary>Called before a file is started: throw to make the start fail.</summary>
    public Action<string> OnStart { get; set; } = _ => { };

    /// <summary>Called before a part is stored: throw to make the upload fail.</summary>
    public Action<string, int> OnPart { get; set; } = (_, _) => { };

    public string Describe(string key) => "memory:/" + key;

    public Task<string> StartFileAsync(string key, long length, ObjectProperties properties, CancellationToken cancellationToken)
    {
        OnStart(key);
        var id = $"upload-{Interlocked.Increment(ref _nextUpload)}";
        _uploads[id] = (key, new ConcurrentDictionary<int, byte[]>());
        Properties[key] = properties;
        Calls.Enqueue($"start {key} {length}");
        return Task.FromResult(id);
    }

    public Task AbortUnrecordedAsync(string runId, string key, string? keepUploadId, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"abort-unrecorded {runId} {key} keep {keepUploadId ?? "none"}");
        OnAbort(key);
        return Task.CompletedTask;
    }

    public Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        OnPart(key, partNumber);
        _uploads[uploadId].Parts[partNumber] = content.ToArray();
        Calls.Enqueue($"part {key} {partNumber} at {offset} {content.Length}");
        return Task.FromResult(new PartReceipt(partNumber, offset, content.Length, $"\"etag-{partNumber}\"", Convert.ToBase64String(SHA256.HashData(content.Span))));
    }

    /// <summary>Reads a part in blocks of 7 bytes, as a destination that writes while it reads does.</summary>
    public async Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, long length, PartReader read, CancellationToken cancellationToken)
    {
        var content = new byte[length];
        for (var at = 0; at < length; at += 7)
            await read(at, content.AsMemory(at, (int)Math.Min(7, length - at)), cancellationToken);
        return await UploadPartAsync(key, uploadId, partNumber, offset, content, cancellationToken);
    }

    public Task CompleteFileAsync(string key, string uploadId, IReadOnlyList<PartReceipt> parts, long length, CancellationToken cancellationToken)
    {
        var upload = _uploads[uploadId].Parts;
        var bytes = parts.SelectMany(p => upload[p.PartNumber]).ToArray();
        if (bytes.Length != length) throw new InvalidOperationException($"{key}: {bytes.Length} bytes, expected {length}");
        Objects[key] = bytes;
        Calls.Enqueue($"complete {key} parts {string.Join(",", parts.Select(p => p.PartNumber))}");
        return Task.CompletedTask;
    }

    public Task AbortFileAsync(string key, string uploadId, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"abort {key} {uploadId}");
        OnAbort(key);
        _uploads.TryRemove(uploadId, out _);
        return Task.CompletedTask;
    }

    public Task PutObjectAsync(string key, ReadOnlyMemory<byte> content, ObjectProperties properties, CancellationToken cancellationToken)
    {
        Objects[key] = content.ToArray();
        Properties[key] = properties;
        Calls.Enqueue($"put {key}");
        return Task.CompletedTask;
    }

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => Task.FromResult(Objects.ContainsKey(key));

    public string[] CallsStartingWith(string verb) => Calls.Where(c => c.StartsWith(verb + " ", StringComparison.Ordinal)).ToArray();
}

internal sealed class MemoryDestinationFactory(MemoryDestination destination) : IDestinationFactory
{
    public List<DestinationSpec> Opened { get; } = [];

    public bool CanOpen(string type) => true;

    public IExportDestination Open(DestinationSpec spec)
    {
        lock (Opened) Opened.Add(spec);
        return destination;
    }
}

/// <summary>Keeps every log line, formatted, with its level, and the scopes open when it was written.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly AsyncLocal<ImmutableScopes?> _scopes = new();

    public ConcurrentQueue<(LogLevel Level, string Message, string Scopes)> Lines { get; } = new();

    public IEnumerable<string> At(LogLevel level) => Lines.Where(l => l.Level == level).Select(l => l.Message);

    public IDisposable BeginScope<TState>(TState state) where TState : notnull
    {
        var parent = _scopes.Value;
        _scopes.Value = new ImmutableScopes(Describe(state), parent);
        return new Scope(() => _scopes.Value = parent);
    }

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue((logLevel, formatter(state, exception), _scopes.Value?.ToString() ?? ""));

    private static string Describe(object state) => state is IEnumerable<KeyValuePair<string, object>> pairs
        ? string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}"))
        : state.ToString() ?? "";

    private sealed record ImmutableScopes(string State, ImmutableScopes? Parent)
    {
        public override string ToString() => Parent is null ? State : $"{Parent} / {State}";
    }

    private sealed class Scope(Action end) : IDisposable
    {
        public void Dispose() => end();
    }
}

/// <summary>
/// A run store that forwards to a real one, letting a test step in before a call: to fail it, as a crash or an
/// outage would, or to change the state under it, as another process would.
/// </summary>
public class StoreSpy : System.Reflection.DispatchProxy
{
    private IRunStore _inner = null!;
    private readonly ConcurrentDictionary<string, Func<object?[], Task?>> _before = new();
    private readonly ConcurrentDictionary<string, Func<object?[], object?>> _instead = new();

    public static (IRunStore Store, StoreSpy Spy) Wrap(IRunStore inner)
    {
        var proxy = Create<IRunStore, StoreSpy>();
        var spy = (StoreSpy)(object)proxy;
        spy._inner = inner;
        return (proxy, spy);
    }

    /// <summary>Runs <paramref name="step"/> before each call of <paramref name="method"/>; a task it returns is awaited first (a throw fails the call).</summary>
    public void Before(string method, Func<object?[], Task?> step) => _before[method] = step;

    /// <summary>What an <see cref="Instead"/> answer returns to let the real store answer that call after all.</summary>
    public static readonly object Forward = new();

    /// <summary>Answers calls of <paramref name="method"/> with <paramref name="answer"/>; the real store never sees them.</summary>
    public void Instead(string method, Func<object?[], object?> answer) => _instead[method] = answer;

    public void Reset(string method)
    {
        _before.TryRemove(method, out _);
        _instead.TryRemove(method, out _);
    }

    protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
    {
        var method = targetMethod!;
        args ??= [];
        if (_instead.TryGetValue(method.Name, out var answer) && answer(args) is var answered && answered != Forward) return answered;
        if (!_before.TryGetValue(method.Name, out var step)) return method.Invoke(_inner, args);
        return ForwardAfter(step(args) ?? Task.CompletedTask, method, args);
    }

    private object? ForwardAfter(Task first, System.Reflection.MethodInfo method, object?[] args)
    {
        // Every IRunStore method returns Task or Task<T>: chain the forwarded call after the step, keeping the result type.
        var forward = typeof(StoreSpy).GetMethod(method.ReturnType.IsGenericType ? nameof(ThenValue) : nameof(Then),
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        if (method.ReturnType.IsGenericType) forward = forward.MakeGenericMethod(method.ReturnType.GetGenericArguments()[0]);
        return forward.Invoke(null, [first, (Func<object?>)(() => method.Invoke(_inner, args))]);
    }

    private static async Task Then(Task first, Func<object?> call)
    {
        await first;
        await (Task)call()!;
    }

    private static async Task<T> ThenValue<T>(Task first, Func<object?> call)
    {
        await first;
        return await (Task<T>)call()!;
    }
}
