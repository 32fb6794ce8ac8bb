using System.Buffers;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Sources;

/// <summary>
/// A read-only seekable stream over a store's ranged reads, for Parquet.Net (which seeks to the footer and to column
/// chunks). Small reads are served from two windows of <see cref="WindowSize"/> bytes, so a reader going back and forth
/// between the file's start and its footer does not fetch either twice; a read of at least a window goes straight to
/// the store into the caller's buffer. A window near the end is aligned to end with the file, so the 8-byte tail and
/// the footer before it arrive in one read. The whole file is never fetched unless it is asked for.
/// </summary>
internal sealed class SourceRangeStream : Stream
{
    /// <summary>Big enough for the footer of a snapshot with many row groups, small enough to be noise next to a column chunk.</summary>
    public const int WindowSize = 256 * 1024;

    private readonly ISourceStore _store;
    private readonly string _location;
    private readonly string? _version;
    private readonly long _length;
    private readonly Window[] _windows = [new(), new()];
    private long _position;
    private long _uses;
    private bool _disposed;

    /// <param name="version">The version the file was listed at: every read is pinned to it (null: unpinned).</param>
    public SourceRangeStream(ISourceStore store, string location, long length, string? version = null)
    {
        _store = store;
        _location = location;
        _version = version;
        _length = length;
    }

    public override bool CanRead => !_disposed;
    public override bool CanSeek => !_disposed;
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var wanted = (int)Math.Min(buffer.Length, Math.Max(0, _length - _position));
        var done = 0;
        while (done < wanted)
        {
            var rest = wanted - done;
            if (Find(_position) is { } window)
            {
                var from = (int)(_position - window.Start);
                var take = Math.Min(rest, window.Length - from);
                window.Bytes!.AsMemory(from, take).CopyTo(buffer[done..]);
                window.LastUse = ++_uses;
                done += take;
                _position += take;
                continue;
            }
            if (rest >= WindowSize)
            {
                var n = await _store.ReadAsync(_location, _version, _position, buffer.Slice(done, rest), cancellationToken);
                done += n;
                _position += n;
                if (n < rest) break; // the file is shorter than listed: the caller sees a short read
                continue;
            }
            if (!await FillAsync(cancellationToken)) break;
        }
        return done;
    }

    private Window? Find(long position)
    {
        foreach (var w in _windows)
            if (w.Length > 0 && position >= w.Start && position < w.Start + w.Length) return w;
        return null;
    }

    /// <summary>Makes <paramref name="bytes"/>, already read from <paramref name="start"/>, a window, so reading them again costs no request.</summary>
    public void Preload(long start, ReadOnlySpan<byte> bytes)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes.Length, WindowSize);
        var window = LeastRecentlyUsed();
        // Stryker disable once Assignment: a fresh array instead of the window's own holds the same bytes
        window.Bytes ??= ArrayPool<byte>.Shared.Rent(WindowSize);
        bytes.CopyTo(window.Bytes);
        window.Start = start;
        window.Length = bytes.Length;
        window.LastUse = ++_uses;
    }

    private Window LeastRecentlyUsed() => _windows[0].LastUse <= _windows[1].LastUse ? _windows[0] : _windows[1];

    /// <summary>Reads the window that holds the position into the least recently used one; false when the file has nothing there (it shrank).</summary>
    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        var window = LeastRecentlyUsed();
        window.Bytes ??= ArrayPool<byte>.Shared.Rent(WindowSize);
        var start = Math.Max(0, Math.Min(_position, _length - WindowSize));
        var length = (int)Math.Min(WindowSize, _length - start);
        window.Length = 0;
        var n = await _store.ReadAsync(_location, _version, start, window.Bytes.AsMemory(0, length), cancellationToken);
        window.Start = start;
        window.Length = n;
        window.LastUse = ++_uses;
        return _position < start + n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Parquet.Net reads synchronously in places; with a store whose reads complete synchronously (local files) nothing blocks.
    public override int Read(Span<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            var task = ReadAsync(rented.AsMemory(0, buffer.Length), CancellationToken.None);
            // Stryker disable once Conditional: both branches give the task's result; the check only spares an allocation
            var n = task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var task = ReadAsync(buffer.AsMemory(offset, count), CancellationToken.None);
        // Stryker disable once Conditional: both branches give the task's result; the check only spares an allocation
        return task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
    }

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var w in _windows)
            {
                if (w.Bytes is not null) ArrayPool<byte>.Shared.Return(w.Bytes);
                w.Bytes = null;
                w.Length = 0;
            }
        }
        _disposed = true;
        base.Dispose(disposing);
    }

    private sealed class Window
    {
        public byte[]? Bytes;
        public long Start;
        public int Length;
        public long LastUse;
    }
}
