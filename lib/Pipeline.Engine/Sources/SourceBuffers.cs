using System.Buffers;

namespace Pipeline.Engine.Sources;

/// <summary>
/// The pool for CSV chunks' buffers (~chunkSize bytes each).
/// Not <see cref="ArrayPool{T}.Shared"/>: that one parks a returned array in the returning thread's own slot, and
/// chunks are returned on whichever pool thread built them, so over a long export more and more threads each held
/// a chunk-sized buffer and peak memory grew with the audience (measured in bench/README.md). Parquet's many
/// smaller column buffers measured better in the shared pool, so they stay there. Here every array
/// returned is available to the next renter, so the arrays alive are the chunks in flight: parallelism, not size.
/// </summary>
internal static class SourceBuffers<T>
{
    public static readonly ArrayPool<T> Pool = ArrayPool<T>.Create(maxArrayLength: 1 << 30, maxArraysPerBucket: 16);
}
