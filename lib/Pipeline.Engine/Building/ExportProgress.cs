namespace Pipeline.Engine.Building;

/// <summary>Live counters for progress display; updated by workers, read by the CLI.</summary>
public sealed class ExportProgress
{
    private long _rowsRead, _rowsWritten, _bytesStaged, _bytesDelivered, _chunks, _parts;

    public long RowsRead => Interlocked.Read(ref _rowsRead);
    public long RowsWritten => Interlocked.Read(ref _rowsWritten);
    public long BytesStaged => Interlocked.Read(ref _bytesStaged);
    public long BytesDelivered => Interlocked.Read(ref _bytesDelivered);
    public long Chunks => Interlocked.Read(ref _chunks);
    public long Parts => Interlocked.Read(ref _parts);

    public void ChunkBuilt(ChunkCounts counts, long bytes)
    {
        Interlocked.Add(ref _rowsRead, counts.RowsRead);
        Interlocked.Add(ref _rowsWritten, counts.RowsWritten);
        Interlocked.Add(ref _bytesStaged, bytes);
        Interlocked.Increment(ref _chunks);
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _reused = new(StringComparer.Ordinal);

    /// <summary>Chunks of <paramref name="runId"/> an earlier attempt recorded, read past instead of rebuilt (a resumed run).</summary>
    public long ChunksReused(string runId) => _reused.TryGetValue(runId, out var n) ? n : 0;

    public void ChunkReused(string runId) => _reused.AddOrUpdate(runId, 1, (_, n) => n + 1);

    public void PartDelivered(long bytes)
    {
        Interlocked.Add(ref _bytesDelivered, bytes);
        Interlocked.Increment(ref _parts);
    }
}
