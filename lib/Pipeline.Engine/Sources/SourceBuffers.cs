using System.Collections.Concurrent;
using System.Numerics;

namespace Pipeline.Engine.Sources;

/// <summary>
/// The pool for source chunks' big buffers: CSV chunks (~chunkSize bytes) and the decoded columns of Parquet row groups.
/// Not <see cref="System.Buffers.ArrayPool{T}.Shared"/>: it parks a returned array in the returning thread's own slot
/// and keeps at most 32 arrays of a size per core, dropping the rest. A Parquet row group alone needs ~30 arrays of one
/// size, and chunks are returned on whichever pool thread built them, so arrays were parked or dropped, new ones were
/// allocated, and peak memory grew with the number of chunks (bench/README.md). Here every returned array is free for
/// the next renter on any thread and none is dropped, so the arrays alive are those of the chunks in flight: memory is
/// set by parallelism and chunk size, not by the audience. Arrays are power-of-two sized and not zeroed (only the part
/// a chunk fills is ever touched).
/// </summary>
internal static class SourceBuffers<T> where T : unmanaged
{
    private static readonly ConcurrentBag<T[]>[] Buckets = Enumerable.Range(0, 31).Select(_ => new ConcurrentBag<T[]>()).ToArray();

    public static T[] Rent(int minimum)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimum);
        if (minimum == 0) return [];
        var bucket = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)minimum));
        if (bucket >= Buckets.Length) throw new ArgumentOutOfRangeException(nameof(minimum), minimum, "a source buffer over 1 GiB");
        return Buckets[bucket].TryTake(out var array) ? array : GC.AllocateUninitializedArray<T>(1 << bucket);
    }

    /// <summary>Returns an array from <see cref="Rent"/>; empty arrays (and any not from here) are ignored.</summary>
    public static void Return(T[] array)
    {
        if (array.Length == 0 || !BitOperations.IsPow2(array.Length)) return;
        Buckets[BitOperations.Log2((uint)array.Length)].Add(array);
    }
}
