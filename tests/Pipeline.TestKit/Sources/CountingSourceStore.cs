using System.Collections.Concurrent;
using Pipeline.Engine.Ports;

namespace Pipeline.TestKit.Sources;

/// <summary>A source store that counts what passes through it: ranged reads (and their bytes) and whole-file streams opened.</summary>
public sealed class CountingSourceStore(ISourceStore inner) : ISourceStore
{
    private long _rangedBytes;
    private int _rangedReads;
    private int _streams;

    public long RangedBytes => Interlocked.Read(ref _rangedBytes);
    public int RangedReads => Volatile.Read(ref _rangedReads);
    public int StreamsOpened => Volatile.Read(ref _streams);

    /// <summary>Every ranged read as (location, offset, bytes returned).</summary>
    public ConcurrentQueue<(string Location, long Offset, int Bytes)> Reads { get; } = new();

    public bool Accepts(string location) => inner.Accepts(location);

    public Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken) => inner.ListAsync(location, cancellationToken);

    public Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _streams);
        return inner.OpenReadAsync(location, version, cancellationToken);
    }

    public async ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var n = await inner.ReadAsync(location, version, offset, buffer, cancellationToken);
        Interlocked.Increment(ref _rangedReads);
        Interlocked.Add(ref _rangedBytes, n);
        Reads.Enqueue((location, offset, n));
        return n;
    }
}
