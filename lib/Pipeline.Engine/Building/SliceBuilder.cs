using System.IO.Compression;
using System.Threading.Channels;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Building;

/// <summary>
/// Builds the chunks of one slice: one reader cuts the source into chunks, workers filter, project,
/// format and gzip each chunk as its own gzip member, stage it and record it. Chunks already
/// recorded by an earlier attempt are read past, not rebuilt. Memory is bounded by
/// chunk size x workers, whatever the size of the audience. Source files are read through <paramref name="sources"/>
/// (local files when none is given).
/// </summary>
public sealed class SliceBuilder(IStagingStore staging, IRunStore store, ExportProgress progress, SemaphoreSlim buildSlots, ISourceStore? sources = null)
{
    private readonly ISourceStore _sources = sources ?? FileSourceStore.Instance;

    private async Task<ISliceReader> OpenAsync(ExportRun run, SourceFile file, CancellationToken cancellationToken)
    {
        try
        {
            return await SourceReaders.OpenAsync(_sources, file, run.Spec, cancellationToken);
        }
        catch (SourceException e) when (e.IsNotFound)
        {
            throw new SourceException($"The source file {SourceLocation.Display(file.Path)} of run {run.RunId} no longer exists; the snapshot changed while the export ran.", e);
        }
    }

    public async Task<int> BuildAsync(ExportRun run, SlicePlan slice, CancellationToken cancellationToken)
    {
        var spec = run.Spec;
        var recorded = (await store.ListChunksAsync(run.ProgressId, cancellationToken)).Where(c => c.Slice == slice.Index).ToList();
        var built = recorded.Select(c => c.Seq).ToHashSet();
        // This slice's skipped lines so far, for the early stop: no need to build on once the limit is passed.
        var linesSkipped = recorded.Sum(c => Math.Max(c.RowsSkipped, c.LinesSkipped));
        var file = new SourceFile(slice.Path, slice.Length, slice.Format, slice.Gzip, slice.Version);
        using var reader = await OpenAsync(run, file, cancellationToken);
        var binding = ColumnBinding.Create(reader.Columns, spec, file.Path);
        var selection = new RowSelection(spec.SegmentId, spec.Source.SegmentsSeparator, run.WatermarkFrom, run.WatermarkTo, spec.Mode == ExportMode.Incremental);

        var workers = Math.Max(1, spec.Tuning.EffectiveParallelism);
        var channel = Channel.CreateBounded<ISourceChunk>(new BoundedChannelOptions(1) { SingleWriter = true, SingleReader = false });
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var chunkCount = 0;

        // Chunk records are written by one task, in the background: workers go on building instead of waiting
        // for the state store, and the store sees one writer per slice (SQLite's busy-wait made concurrent
        // commits cost ~5 ms per chunk, up to 150 ms; bench/README.md). A chunk is recorded only after it is staged.
        var records = Channel.CreateUnbounded<(ChunkRecord Record, ChunkCounts Counts)>(new UnboundedChannelOptions { SingleReader = true });
        var recorder = Task.Run(async () =>
        {
            try
            {
                await foreach (var (record, counts) in records.Reader.ReadAllAsync(failed.Token))
                {
                    await store.RecordChunkAsync(run.ProgressId, record, failed.Token);
                    progress.ChunkBuilt(counts, record.Bytes);
                }
            }
            catch
            {
                await failed.CancelAsync();
                throw;
            }
        }, failed.Token);

        var produce = Task.Run(async () =>
        {
            try
            {
                await foreach (var chunk in reader.ReadChunksAsync(seq =>
                {
                    chunkCount = seq + 1;
                    if (!built.Contains(seq)) return false;
                    progress.ChunkReused(run.RunId);
                    return true;
                }, failed.Token))
                {
                    try { await channel.Writer.WriteAsync(chunk, failed.Token); }
                    catch { chunk.Dispose(); throw; }
                }
                channel.Writer.Complete();
            }
            catch (Exception e)
            {
                channel.Writer.Complete(e);
                throw;
            }
        }, failed.Token);

        var consumers = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            using var rows = new DelimitedRowWriter(spec.Output);
            var writer = new ChunkWriter(rows, selection, binding, spec.OnMalformedRow, file.Path);
            var buffer = new MemoryStream();
            try
            {
                await foreach (var chunk in channel.Reader.ReadAllAsync(failed.Token))
                {
                    using (chunk)
                    {
                        await chunk.LoadAsync(binding, failed.Token);
                        await buildSlots.WaitAsync(failed.Token);
                        try
                        {
                            buffer.SetLength(0);
                            BuildChunk(chunk, writer, rows, buffer, spec);
                        }
                        finally { buildSlots.Release(); }
                        var counts = writer.TakeCounts();
                        if (counts.LinesSkipped > 0) SkippedRowLimit.CheckCount(spec, Interlocked.Add(ref linesSkipped, counts.LinesSkipped), counts.FirstSkipped);
                        string? key = null;
                        if (counts.RowsWritten > 0)
                        {
                            key = StagingKeys.Chunk(run.ProgressId, slice.Index, chunk.Seq);
                            await staging.WriteAsync(key, buffer.GetBuffer().AsMemory(0, (int)buffer.Length), failed.Token);
                        }
                        var bytes = key is null ? 0 : buffer.Length;
                        records.Writer.TryWrite((new ChunkRecord(slice.Index, chunk.Seq, counts.RowsRead, counts.RowsWritten, counts.RowsSkipped, counts.FirstSkipped, bytes, key, counts.LinesSkipped), counts));
                    }
                }
            }
            catch
            {
                await failed.CancelAsync();
                throw;
            }
        }, failed.Token)).ToList();

        var tasks = consumers.Append(produce).ToList();
        // The recorder drains what is left once every chunk is built (or stops at the first failure).
        _ = Task.WhenAll(tasks).ContinueWith(_ => records.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        tasks.Add(recorder);
        try
        {
            await Task.WhenAll(tasks);
        }
        catch when (tasks.Select(t => t.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException) is { } root)
        {
            // Report the first real failure, not the cancellations it caused in the other workers.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(root);
        }
        finally
        {
            while (channel.Reader.TryRead(out var leftover)) leftover.Dispose();
        }
        return chunkCount;
    }

    private static void BuildChunk(ISourceChunk chunk, ChunkWriter writer, DelimitedRowWriter rows, MemoryStream buffer, ExportSpec spec)
    {
        if (spec.Output.Compression == OutputCompression.Gzip)
        {
            // One gzip member per chunk: concatenated members are one valid gzip file.
            using var gzip = new GZipStream(buffer, spec.Tuning.CompressionLevel, leaveOpen: true);
            rows.Reset(gzip);
            chunk.Write(writer);
            rows.Flush();
        }
        else
        {
            rows.Reset(buffer);
            chunk.Write(writer);
            rows.Flush();
        }
    }
}

public static class StagingKeys
{
    public static string RunPrefix(string runId) => runId + "/";

    public static string Chunk(string runId, int slice, int seq) => $"{runId}/s{slice:D5}-c{seq:D6}.part";

    public static string Header(string runId) => $"{runId}/header.part";
}
