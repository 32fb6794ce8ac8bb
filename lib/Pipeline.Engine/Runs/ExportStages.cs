using System.Buffers;
using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Runs;

/// <summary>
/// The stage handlers: PlanExport, BuildSlice, AssembleFiles, UploadPart, CompleteExport. Each is
/// at-least-once safe: it checks recorded state first, so a message delivered twice, or a process
/// killed at any line and restarted, ends with the same bytes and one manifest.
/// </summary>
public sealed partial class ExportStages
{
    private readonly IRunStore _store;
    private readonly IStagingStore _staging;
    private readonly IDestinationFactory _destinations;
    private readonly IWorkQueue _queue;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SliceBuilder _builder;
    private readonly ISourceStore _sources;

    /// <param name="sources">Where snapshots are read (by location: a path, a blob URL); local files when null.</param>
    public ExportStages(IRunStore store, IStagingStore staging, IDestinationFactory destinations, IWorkQueue queue,
        TimeProvider time, ILogger<ExportStages> logger, ExportProgress? progress = null, int buildParallelism = 0, ISourceStore? sources = null)
    {
        _sources = sources ?? FileSourceStore.Instance;
        _store = store;
        _staging = staging;
        _destinations = destinations;
        _queue = queue;
        _time = time;
        _logger = logger;
        Progress = progress ?? new ExportProgress();
        var slots = buildParallelism > 0 ? buildParallelism : Environment.ProcessorCount;
        _builder = new SliceBuilder(staging, store, Progress, new SemaphoreSlim(slots, slots), _sources);
    }

    public ExportProgress Progress { get; }

    /// <summary>Runs one message. Problems the user must fix fail the run at once; anything else is thrown so the queue retries.</summary>
    public async Task HandleAsync(StageMessage message, CancellationToken cancellationToken)
    {
        // Every log line of the stage, including the destination's retries, carries the run (and file/part).
        using var scope = _logger.BeginScope(message switch
        {
            UploadPart u => new Dictionary<string, object> { ["RunId"] = u.RunId, ["File"] = u.File, ["Part"] = u.Part },
            BuildSlice b => new Dictionary<string, object> { ["RunId"] = b.RunId, ["Slice"] = b.Slice },
            _ => new Dictionary<string, object> { ["RunId"] = message.RunId },
        });
        try
        {
            switch (message)
            {
                case PlanExport m: await PlanAsync(m, cancellationToken); break;
                case BuildSlice m: await BuildSliceAsync(m, cancellationToken); break;
                case AssembleFiles m: await AssembleAsync(m, cancellationToken); break;
                case UploadPart m: await UploadPartAsync(m, cancellationToken); break;
                case CompleteExport m: await CompleteAsync(m, cancellationToken); break;
                default: throw new ArgumentException($"Unknown stage message {message.GetType().Name}.", nameof(message));
            }
        }
        catch (Exception e) when (IsPermanent(e) && !cancellationToken.IsCancellationRequested)
        {
            await FailRunAsync(message.RunId, message.Attempt, e.Message, CancellationToken.None);
        }
    }

    /// <summary>Errors that retrying cannot fix: bad data, bad config, a destination that refuses us.</summary>
    public static bool IsPermanent(Exception e) =>
        e is SourceException or MalformedRowException or ConfigException or DestinationException or SecretException;

    /// <summary>
    /// Fails attempt <paramref name="attempt"/> of the run (after retries ran out, or for a permanent error): aborts its
    /// uploads and deletes its staging. A poisoned message of an earlier attempt leaves a newer attempt alone.
    /// </summary>
    public async Task FailRunAsync(string runId, int attempt, string error, CancellationToken cancellationToken)
    {
        var run = await _store.GetRunAsync(runId, cancellationToken);
        if (run is null || run.Attempt != attempt) return;
        if (await _store.TryMarkFailedAsync(runId, attempt, error, _time.GetUtcNow(), cancellationToken))
            Log.RunFailed(_logger, runId, run.ActivationId, error);
        // Already failed by an earlier call that may have stopped before cleaning up (a crash, a shutdown): clean up again.
        else if (await _store.GetRunAsync(runId, cancellationToken) is not { Status: RunStatus.Failed } failed || failed.Attempt != attempt) return;
        var assembly = await _store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, Documents.Assembly, cancellationToken);
        if (assembly is not null)
        {
            var destination = _destinations.Open(run.Spec.Destination);
            foreach (var file in assembly.Files)
            {
                try { await destination.AbortFileAsync(file.Key, file.UploadId, cancellationToken); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.AbortFailed(_logger, runId, file.Key, e.Message);
                }
            }
        }
        else if (await _store.GetDocumentAsync<FileStartIntent>(run.ProgressId, Documents.FileStarts, cancellationToken) is { } intent)
        {
            // It died between starting uploads and recording them: nothing records their ids, so find them by key.
            var destination = _destinations.Open(run.Spec.Destination);
            foreach (var key in intent.Keys)
            {
                try { await destination.AbortUnrecordedAsync(run.ProgressId, key, null, cancellationToken); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.AbortFailed(_logger, runId, key, e.Message);
                }
            }
        }
        await _staging.DeletePrefixAsync(StagingKeys.RunPrefix(run.ProgressId), cancellationToken);
    }

    /// <summary>How often a working stage records progress on the run (the watchdog's and `run`'s sign of life).</summary>
    public static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The run, if <paramref name="message"/> has work to do. A message of an earlier attempt, or a duplicate for a run
    /// that has moved on, has none; but one that finds the run exactly one stage ahead with the hand-off unsent (the
    /// stage crashed, or its enqueue failed, after the status change) sends that stage's messages again.
    /// </summary>
    private async Task<ExportRun?> RunInAsync(StageMessage message, CancellationToken cancellationToken)
    {
        var (expects, handsOffTo) = StageHandOff.StatusesOf(message);
        var run = await _store.GetRunAsync(message.RunId, cancellationToken);
        if (run is null || run.Attempt != message.Attempt) return null;
        if (run.Status == expects)
        {
            if (run.LastProgressAt is not { } last || _time.GetUtcNow() - last >= ProgressInterval)
                await _store.TouchRunAsync(run.RunId, run.Attempt, _time.GetUtcNow(), cancellationToken);
            return run;
        }
        if (run.Status == handsOffTo && handsOffTo != RunStatus.Succeeded && !run.HandedOff)
        {
            Log.HandOffResent(_logger, run.RunId, run.Status.ToString());
            await StageHandOff.SendPendingAsync(_store, _queue, run, cancellationToken);
        }
        // Completion may have stopped between marking the run succeeded and deleting its staging.
        else if (run.Status == RunStatus.Succeeded && message is CompleteExport) await DeleteStagingAsync(run, cancellationToken);
        return null;
    }

    /// <summary>Moves the run on and sends the next stage's messages; a crash in between is mended by <see cref="RunInAsync"/>.</summary>
    private async Task HandOffAsync(ExportRun run, RunStatus from, RunStatus to, List<StageMessage> messages, CancellationToken cancellationToken)
    {
        if (!await _store.TryTransitionAsync(run.RunId, run.Attempt, from, to, _time.GetUtcNow(), cancellationToken)) return;
        if (messages.Count > 0) await _queue.EnqueueAsync(messages, cancellationToken);
        await _store.MarkHandedOffAsync(run.RunId, run.Attempt, to, cancellationToken);
    }

    /// <summary>Deletes the staging of every attempt of the run (earlier attempts may have left late writes).</summary>
    public async Task DeleteStagingAsync(ExportRun run, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= run.Attempt; attempt++)
            await _staging.DeletePrefixAsync(StagingKeys.RunPrefix(ExportRun.ProgressIdFor(run.RunId, attempt)), cancellationToken);
    }

    /// <summary>Records progress while a long stage works, so a live run never looks stalled.</summary>
    private async Task HeartbeatAsync(ExportRun run, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(ProgressInterval, _time, cancellationToken);
                await _store.TouchRunAsync(run.RunId, run.Attempt, _time.GetUtcNow(), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    private async Task PlanAsync(PlanExport message, CancellationToken cancellationToken)
    {
        if (await RunInAsync(message, cancellationToken) is not { } run) return;
        var files = await SourceCatalog.ListFilesAsync(_sources, run.Spec.Source, cancellationToken);
        // Fail fast on an unknown field or missing column, before any chunk is built.
        var columns = await SourceReaders.ReadColumnsAsync(_sources, files[0], run.Spec.Source, cancellationToken);
        _ = ColumnBinding.Create(columns, run.Spec, files[0].Path);
        var plan = await _store.SetOnceAsync(run.ProgressId, Documents.Plan,
            new ExportPlan(files.Select((f, i) => new SlicePlan(i, f.Path, f.Length, f.Format, f.Gzip, f.Version)).ToList(), _time.GetUtcNow()), cancellationToken);
        Log.Planned(_logger, run.RunId, run.ActivationId, plan.Slices.Count, plan.Slices.Sum(s => s.Length));
        await HandOffAsync(run, RunStatus.Planning, RunStatus.Building,
            plan.Slices.Select(s => (StageMessage)new BuildSlice(run.RunId, s.Index) { Attempt = run.Attempt }).ToList(), cancellationToken);
    }

    private async Task BuildSliceAsync(BuildSlice message, CancellationToken cancellationToken)
    {
        if (await RunInAsync(message, cancellationToken) is not { } run) return;
        var plan = await RequireAsync<ExportPlan>(run.ProgressId, Documents.Plan, cancellationToken);
        var done = await _store.ListDoneSlicesAsync(run.ProgressId, cancellationToken);
        var slicesDone = done.Count;
        // Stryker disable once Boolean: a slice that built nothing staged nothing; deleting a finished or superseded attempt's staging again only repeats a clean-up
        var built = false;
        if (!done.Contains(message.Slice))
        {
            var slice = plan.Slices[message.Slice];
            int chunkCount;
            using (var beating = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                var heartbeat = HeartbeatAsync(run, beating.Token);
                try { chunkCount = await _builder.BuildAsync(run, slice, cancellationToken); }
                finally
                {
                    await beating.CancelAsync();
                    await heartbeat;
                }
            }
            built = true;
            var recorded = (await _store.ListChunksAsync(run.ProgressId, cancellationToken)).Count(c => c.Slice == slice.Index);
            if (recorded != chunkCount)
                throw new InvalidOperationException($"Slice {slice.Index} of run {run.RunId} read {chunkCount} chunks but {recorded} are recorded.");
            slicesDone = await _store.RecordSliceDoneAsync(run.ProgressId, slice.Index, chunkCount, cancellationToken);
            Log.SliceBuilt(_logger, run.RunId, slice.Index, chunkCount);
        }
        // The last slice to finish moves the run on; the conditional transition lets exactly one do it.
        if (slicesDone == plan.Slices.Count)
            await HandOffAsync(run, RunStatus.Building, RunStatus.Assembling, [new AssembleFiles(run.RunId) { Attempt = run.Attempt }], cancellationToken);
        // Written first, checked second: if the run ended meanwhile (another process finished or failed it), what this
        // slice staged would outlive it, so it goes now.
        if (built && await _store.GetRunAsync(run.RunId, cancellationToken) is { } after && (after.IsFinished || after.Attempt != run.Attempt))
            await _staging.DeletePrefixAsync(StagingKeys.RunPrefix(run.ProgressId), cancellationToken);
    }

    private async Task AssembleAsync(AssembleFiles message, CancellationToken cancellationToken)
    {
        if (await RunInAsync(message, cancellationToken) is not { } run) return;
        var assembly = await _store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, Documents.Assembly, cancellationToken)
                       ?? await PlanFilesAsync(run, cancellationToken);
        await AbortUnrecordedUploadsAsync(run, assembly, cancellationToken);
        var recorded = (await _store.ListPartsAsync(run.ProgressId, cancellationToken)).Select(p => (p.File, p.Receipt.PartNumber)).ToHashSet();
        var parts = assembly.Files
            .SelectMany(f => Enumerable.Range(1, f.PartCount).Select(p => (f.Index, Part: p)))
            .Where(p => !recorded.Contains(p))
            .Select(p => (StageMessage)new UploadPart(run.RunId, p.Index, p.Part) { Attempt = run.Attempt })
            .ToList();
        await HandOffAsync(run, RunStatus.Assembling, RunStatus.Uploading, parts, cancellationToken);
        if (parts.Count == 0)
            await HandOffAsync(run, RunStatus.Uploading, RunStatus.Completing, [new CompleteExport(run.RunId) { Attempt = run.Attempt }], cancellationToken);
    }

    /// <summary>
    /// Uploads of the run's files that no assembly recorded go now, not in 7 days: those an attempt started and died
    /// before recording, and a second upload a store made when a create whose answer was lost was sent again. On every
    /// delivery of AssembleFiles (it is idempotent), so a crash right after the assembly was recorded still cleans up.
    /// </summary>
    private async Task AbortUnrecordedUploadsAsync(ExportRun run, AssemblyPlan assembly, CancellationToken cancellationToken)
    {
        var intent = await _store.GetDocumentAsync<FileStartIntent>(run.ProgressId, Documents.FileStarts, cancellationToken);
        var destination = _destinations.Open(run.Spec.Destination);
        foreach (var key in (intent?.Keys ?? []).Union(assembly.Files.Select(f => f.Key)))
            await destination.AbortUnrecordedAsync(run.ProgressId, key, assembly.Files.FirstOrDefault(f => f.Key == key)?.UploadId, cancellationToken);
    }

    private async Task<AssemblyPlan> PlanFilesAsync(ExportRun run, CancellationToken cancellationToken)
    {
        var spec = run.Spec;
        var chunks = (await _store.ListChunksAsync(run.ProgressId, cancellationToken)).OrderBy(c => c.Slice).ThenBy(c => c.Seq).ToList();
        var firstSkipped = chunks.Select(c => c.FirstSkipped).FirstOrDefault(s => s is not null);
        SkippedRowLimit.Check(spec, chunks.Sum(c => c.RowsRead), chunks.Sum(c => c.RowsSkipped), chunks.Sum(c => Math.Max(c.RowsSkipped, c.LinesSkipped)), firstSkipped);
        var header = BuildHeader(spec);
        // A headerless gzip file of no rows would be 0 bytes, which is not gzip: that one file is an empty member instead.
        if (header.Length == 0 && spec.Output.Compression == OutputCompression.Gzip && chunks.All(c => c.Bytes == 0)) header = EmptyGzipMember;
        var headerKey = StagingKeys.Header(run.ProgressId);
        if (header.Length > 0) await _staging.WriteAsync(headerKey, header, cancellationToken);

        // Files hold whole chunks, in source order, up to the split size (a file is never empty of its header).
        var groups = new List<List<ChunkRecord>> { new() };
        long size = header.Length;
        foreach (var chunk in chunks.Where(c => c.Bytes > 0))
        {
            if (groups[^1].Count > 0 && size + chunk.Bytes > spec.MaxFileSize)
            {
                groups.Add([]);
                size = header.Length;
            }
            groups[^1].Add(chunk);
            size += chunk.Bytes;
        }

        var template = FileNameTemplate.Parse(spec.FileName);
        var destination = _destinations.Open(spec.Destination);
        var properties = new ObjectProperties(spec.Output.ContentType, spec.Output.Compression == OutputCompression.Gzip ? "gzip" : null);
        var keys = Enumerable.Range(1, groups.Count)
            .Select(i => spec.Destination.Prefix + template.Render(run.ActivationId, spec.SegmentId, run.RunId, run.Slot, i, spec.Output.Extension))
            .ToList();
        // Say which files are about to start before starting any: a crash before the assembly is recorded then
        // leaves uploads the next attempt knows to look for.
        // Stryker disable once String: the attempt id is stored, never read back; any unique text does
        await _store.SetOnceAsync(run.ProgressId, Documents.FileStarts, new FileStartIntent(Guid.NewGuid().ToString("N"), keys), cancellationToken);
        var files = new List<FilePlan>();
        for (var i = 0; i < groups.Count; i++)
        {
            var segments = new List<FileSegment>();
            if (header.Length > 0) segments.Add(new FileSegment(headerKey, header.Length));
            segments.AddRange(groups[i].Select(c => new FileSegment(c.StagingKey!, c.Bytes)));
            var length = segments.Sum(s => s.Length);
            var sha = await HashAsync(segments, cancellationToken);
            var partSize = destination.PartLimits.ChoosePartSize(length, spec.Tuning.PartSize);
            var partCount = (int)Math.Max(1, (length + partSize - 1) / partSize);
            var uploadId = await destination.StartFileAsync(run.ProgressId, keys[i], length, properties, cancellationToken);
            files.Add(new FilePlan(i + 1, keys[i], uploadId, length, groups[i].Sum(c => c.RowsWritten), sha, segments, partSize, partCount));
        }
        var proposed = new AssemblyPlan(files, chunks.Sum(c => c.RowsRead), chunks.Sum(c => c.RowsSkipped), firstSkipped, chunks.Sum(c => Math.Max(c.RowsSkipped, c.LinesSkipped)));
        var stored = await _store.SetOnceAsync(run.ProgressId, Documents.Assembly, proposed, cancellationToken);
        if (!stored.Files.Select(f => f.UploadId).SequenceEqual(files.Select(f => f.UploadId)))
        {
            // Another attempt recorded its uploads first; ours must not linger at the destination.
            foreach (var f in files.Where(f => stored.Files.All(s => s.UploadId != f.UploadId)))
                await destination.AbortFileAsync(f.Key, f.UploadId, cancellationToken);
        }
        Log.Assembled(_logger, run.RunId, stored.Files.Count, stored.Files.Sum(f => f.PartCount), stored.Files.Sum(f => f.Length));
        return stored;
    }

    private static byte[] BuildHeader(ExportSpec spec)
    {
        if (!spec.Output.Header && spec.Output.Compression == OutputCompression.None) return [];
        using var buffer = new MemoryStream();
        using var rows = new DelimitedRowWriter(spec.Output with { FormulaProtection = false });
        Stream sink = spec.Output.Compression == OutputCompression.Gzip ? new GZipStream(buffer, spec.Tuning.CompressionLevel, leaveOpen: true) : buffer;
        rows.Reset(sink);
        if (spec.Output.Header)
        {
            foreach (var field in spec.Fields) rows.WriteField(field.Header);
            rows.EndRow();
        }
        rows.Flush();
        if (sink != buffer) sink.Dispose(); // given nothing (no header), the gzip stream writes nothing
        return buffer.ToArray();
    }

    /// <summary>A gzip member holding no bytes (RFC 1952: header, an empty final deflate block, CRC-32 and size 0).</summary>
    private static readonly byte[] EmptyGzipMember = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    private async Task<string> HashAsync(IReadOnlyList<FileSegment> segments, CancellationToken cancellationToken)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            foreach (var segment in segments)
            {
                await using var stream = await _staging.OpenReadAsync(segment.StagingKey, 0, segment.Length, cancellationToken);
                int read;
                while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0) sha.AppendData(buffer, 0, read);
            }
        }
        // Stryker disable once Block: the block only returns the buffer to the pool, which is not observable
        finally
        {
            // Stryker disable once Statement: returning to the pool is not observable
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private async Task UploadPartAsync(UploadPart message, CancellationToken cancellationToken)
    {
        if (await RunInAsync(message, cancellationToken) is not { } run) return;
        var assembly = await RequireAsync<AssemblyPlan>(run.ProgressId, Documents.Assembly, cancellationToken);
        var file = assembly.Files[message.File - 1];
        var total = assembly.Files.Sum(f => f.PartCount);
        int count;
        if (await _store.HasPartAsync(run.ProgressId, message.File, message.Part, cancellationToken))
        {
            count = await _store.CountPartsAsync(run.ProgressId, cancellationToken);
        }
        else
        {
            var (offset, length) = file.PartRange(message.Part);
            var destination = _destinations.Open(run.Spec.Destination);
            var receipt = await destination.UploadPartAsync(file.Key, file.UploadId, message.Part, offset, length,
                (partOffset, into, ct) => ReadRangeAsync(file.Segments, offset + partOffset, into, ct), cancellationToken);
            count = await _store.RecordPartAsync(run.ProgressId, new PartRecord(file.Index, receipt), cancellationToken);
            Progress.PartDelivered(length);
            Log.PartUploaded(_logger, run.RunId, file.Key, message.Part, length);
        }
        if (count == total)
            await HandOffAsync(run, RunStatus.Uploading, RunStatus.Completing, [new CompleteExport(run.RunId) { Attempt = run.Attempt }], cancellationToken);
    }

    /// <summary>Reads [offset, offset+length) of the file formed by concatenating its staged segments.</summary>
    private async Task ReadRangeAsync(IReadOnlyList<FileSegment> segments, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        long segmentStart = 0;
        foreach (var segment in segments)
        {
            var segmentEnd = segmentStart + segment.Length;
            if (destination.Length == 0) break;
            if (offset < segmentEnd)
            {
                var from = offset - segmentStart;
                var take = (int)Math.Min(destination.Length, segment.Length - from);
                await using var stream = await _staging.OpenReadAsync(segment.StagingKey, from, take, cancellationToken);
                await stream.ReadExactlyAsync(destination[..take], cancellationToken);
                destination = destination[take..];
                offset += take;
            }
            segmentStart = segmentEnd;
        }
        if (destination.Length > 0) throw new InvalidOperationException("A part reaches past the end of its staged file.");
    }

    private async Task CompleteAsync(CompleteExport message, CancellationToken cancellationToken)
    {
        if (await RunInAsync(message, cancellationToken) is not { } run) return;
        var assembly = await RequireAsync<AssemblyPlan>(run.ProgressId, Documents.Assembly, cancellationToken);
        var parts = await _store.ListPartsAsync(run.ProgressId, cancellationToken);
        var destination = _destinations.Open(run.Spec.Destination);
        foreach (var file in assembly.Files)
        {
            var receipts = parts.Where(p => p.File == file.Index).Select(p => p.Receipt).OrderBy(r => r.PartNumber).ToList();
            if (receipts.Count != file.PartCount)
                throw new InvalidOperationException($"File {file.Key} of run {run.RunId} has {receipts.Count} of {file.PartCount} parts recorded.");
            await destination.CompleteFileAsync(file.Key, file.UploadId, receipts, file.Length, cancellationToken);
        }
        // The manifest goes last: its presence tells consumers every listed file is complete.
        var completedAt = _time.GetUtcNow();
        var manifestKey = RunManifest.KeyFor(run);
        var manifest = RunManifest.Create(run, assembly, completedAt);
        await destination.PutObjectAsync(manifestKey, manifest.ToUtf8(), new ObjectProperties("application/json", null), cancellationToken);
        await _store.MarkSucceededAsync(run.RunId, run.Attempt, manifestKey, completedAt, cancellationToken);
        await DeleteStagingAsync(run, cancellationToken);
        Log.RunSucceeded(_logger, run.RunId, run.ActivationId, manifest.Totals.Files, manifest.Totals.Rows, manifest.Totals.Bytes);
    }

    private async Task<T> RequireAsync<T>(string runId, string name, CancellationToken cancellationToken) where T : class =>
        await _store.GetDocumentAsync<T>(runId, name, cancellationToken)
        ?? throw new InvalidOperationException($"Run {runId} has no recorded {name}.");

    /// <summary>Names of the set-once documents a run keeps.</summary>
    public static class Documents
    {
        public const string Plan = "plan";
        public const string Assembly = "assembly";
        public const string FileStarts = "file-starts";
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Run {RunId} ({ActivationId}) planned: {Slices} source file(s), {Bytes} bytes")]
        public static partial void Planned(ILogger logger, string runId, string activationId, int slices, long bytes);

        [LoggerMessage(2, LogLevel.Debug, "Run {RunId} slice {Slice} built in {Chunks} chunk(s)")]
        public static partial void SliceBuilt(ILogger logger, string runId, int slice, int chunks);

        [LoggerMessage(3, LogLevel.Information, "Run {RunId} assembled: {Files} file(s), {Parts} part(s), {Bytes} bytes")]
        public static partial void Assembled(ILogger logger, string runId, int files, int parts, long bytes);

        [LoggerMessage(4, LogLevel.Debug, "Run {RunId} file {Key} part {Part} delivered ({Bytes} bytes)")]
        public static partial void PartUploaded(ILogger logger, string runId, string key, int part, long bytes);

        [LoggerMessage(5, LogLevel.Information, "Run {RunId} ({ActivationId}) succeeded: {Files} file(s), {Rows} rows, {Bytes} bytes")]
        public static partial void RunSucceeded(ILogger logger, string runId, string activationId, int files, long rows, long bytes);

        [LoggerMessage(6, LogLevel.Error, "Run {RunId} ({ActivationId}) failed: {Error}")]
        public static partial void RunFailed(ILogger logger, string runId, string activationId, string error);

        [LoggerMessage(7, LogLevel.Warning, "Run {RunId}: aborting the upload of {Key} failed: {Error}")]
        public static partial void AbortFailed(ILogger logger, string runId, string key, string error);

        [LoggerMessage(8, LogLevel.Warning, "Run {RunId} is at {Status} but its messages were never sent: sending them now")]
        public static partial void HandOffResent(ILogger logger, string runId, string status);

    }
}
