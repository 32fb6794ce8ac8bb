using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace Pipeline.Engine.Sources;

/// <summary>
/// Decompresses a gzip source of one or more members and checks every member completely: header, the end of its
/// deflate data, and its trailer (CRC-32 and length), and that nothing but members follows. <see cref="GZipStream"/>
/// returns end of file on a truncated stream and ignores data after a member that is not another member, so a cut
/// file read as a shorter audience with success; here any of that fails with a <see cref="SourceException"/> that
/// names the file and the byte. The framing is parsed here and each member inflated as raw deflate.
/// </summary>
internal sealed class GzipSourceStream : Stream
{
    private static readonly byte[] Signature = [0x1F, 0x8B];
    private const byte FlagHeaderCrc = 0x02, FlagExtra = 0x04, FlagName = 0x08, FlagComment = 0x10, FlagsReserved = 0xE0;

    private readonly Stream _file;
    private readonly string _path;
    private readonly MemberInput _input;
    private readonly Crc32 _crc = new();
    private DeflateStream? _member;
    private uint _memberLength;
    private long _memberStart;
    private int _members;
    private bool _done;

    public GzipSourceStream(Stream file, string path)
    {
        _file = file;
        _path = path;
        _input = new MemberInput(file);
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (!_done)
        {
            if (_member is null && !StartMember()) break;
            int n;
            try { n = _member!.Read(buffer); }
            catch (InvalidDataException)
            {
                throw Corrupt(_input.LastHandedOffset, $"the compressed data of member {_members + 1} (which starts at byte {_memberStart}) is invalid");
            }
            if (n > 0)
            {
                _crc.Append(buffer[..n]);
                _memberLength += (uint)n;
                return n;
            }
            // The deflater stops for one of two reasons: it asked for input past the end of the file, or its data ended.
            if (_input.HandedEndOfFile) throw Truncated();
            FinishMember();
        }
        _done = true;
        return 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Parses the next member's header; false at a clean end of file (after at least one member).</summary>
    private bool StartMember()
    {
        _memberStart = _input.Offset;
        if (!_input.Ensure(1))
        {
            if (_members > 0) return false;
            throw new SourceException($"{_path}: truncated gzip stream after 0 bytes (the file is empty).");
        }
        var signature = _input.Ensure(2) ? _input.Available[..2] : _input.Available;
        // A file that ends after 1F is cut short (below); anything else is not a member.
        if (!Signature.AsSpan().StartsWith(signature))
        {
            if (_members == 0)
                throw Corrupt(0, "the file does not start with the gzip signature 1F 8B, so it is not gzip data (if it is plain text, remove .gz from its name)");
            throw Corrupt(_memberStart, $"what follows gzip member {_members} is not another gzip member (extra bytes after the end of the compressed data)");
        }
        if (!_input.Ensure(10)) throw Truncated();
        var header = _input.Available;
        var method = header[2];
        var flags = header[3];
        if (method != 8) throw Corrupt(_memberStart + 2, $"member {_members + 1} uses compression method {method}, not deflate (8)");
        if ((flags & FlagsReserved) != 0) throw Corrupt(_memberStart + 3, $"member {_members + 1} sets reserved header flags (0x{flags:X2})");
        _input.Skip(10);
        if ((flags & FlagExtra) != 0)
        {
            if (!_input.Ensure(2)) throw Truncated();
            var extra = BinaryPrimitives.ReadUInt16LittleEndian(_input.Available);
            _input.Skip(2);
            if (!_input.TrySkip(extra)) throw Truncated();
        }
        if ((flags & FlagName) != 0 && !_input.TrySkipPastZero()) throw Truncated();
        if ((flags & FlagComment) != 0 && !_input.TrySkipPastZero()) throw Truncated();
        if ((flags & FlagHeaderCrc) != 0 && !_input.TrySkip(2)) throw Truncated();
        _crc.Reset();
        _memberLength = 0;
        _input.BeginMember();
        _member = new DeflateStream(_input, CompressionMode.Decompress, leaveOpen: true);
        return true;
    }

    /// <summary>
    /// The deflate data ended somewhere in the last bytes handed to the deflater (it reads more only when it has used
    /// all it has). The trailer follows at once; its value is known, so it is found by matching all 8 bytes there.
    /// </summary>
    private void FinishMember()
    {
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], _memberLength);
        // The trailer starts at most at the end of the handed range; 2 more bytes show whether a member follows it.
        var window = _input.TrailerWindow(trailer.Length + Signature.Length);
        var last = Math.Min(_input.HandedLength, window.Length - trailer.Length);
        // The last match wins: the deflate data may end in bytes that start a false one (an empty member's is 03 00,
        // its trailer 8 zeros). Of several, the one followed by the end of the file or another member is the trailer.
        int at = -1, fallback = -1;
        for (var from = 0; from <= last;)
        {
            var k = window[from..].IndexOf(trailer);
            if (k < 0 || from + k > last) break;
            var candidate = from + k;
            var next = window[(candidate + trailer.Length)..];
            fallback = candidate;
            if (next.IsEmpty ? _input.AtEndOfFile : Signature.AsSpan().StartsWith(next[..Math.Min(2, next.Length)])) at = candidate;
            from = candidate + 1;
        }
        if (at < 0) at = fallback;
        if (at < 0) throw DescribeBadTrailer(window, trailer);
        _input.ResumeAfterTrailer(at + trailer.Length);
        _member!.Dispose();
        _member = null;
        _members++;
    }

    private SourceException DescribeBadTrailer(ReadOnlySpan<byte> window, ReadOnlySpan<byte> expected)
    {
        var start = _input.WindowOffset;
        var crc = window.IndexOf(expected[..4]);
        if (crc >= 0 && crc + 8 <= window.Length)
            return Corrupt(start + crc + 4, $"member {_members + 1} decompressed to {_memberLength} bytes, but its trailer says {BinaryPrimitives.ReadUInt32LittleEndian(window[(crc + 4)..])} (ISIZE)");
        var length = window.IndexOf(expected[4..]);
        if (length >= 4)
            return Corrupt(start + length - 4, $"the CRC-32 of member {_members + 1} is 0x{_crc.GetCurrentHashAsUInt32():X8}, but its trailer says 0x{BinaryPrimitives.ReadUInt32LittleEndian(window[(length - 4)..]):X8}");
        if (_input.AtEndOfFile && window.Length < _input.HandedLength + expected.Length) return Truncated();
        return Corrupt(start, $"the 8-byte trailer (CRC-32 and length) of member {_members + 1} does not match its data");
    }

    private SourceException Truncated() =>
        new($"{_path}: truncated gzip stream after {_input.FileLength} bytes: the file ends inside gzip member {_members + 1} (which starts at byte {_memberStart}). The file was cut short, for example by an interrupted copy or upload: write it again.");

    private SourceException Corrupt(long offset, string reason) => new($"{_path}: corrupt gzip stream at byte {offset}: {reason}.");

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _member?.Dispose();
            _file.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// The compressed bytes, buffered, as the deflater's input. Keeps the range it handed out last, because the end
    /// of a member lies inside it, and the bytes after that end are the trailer and the next member.
    /// </summary>
    private sealed class MemberInput(Stream file) : Stream
    {
        private byte[] _buffer = new byte[1 << 16];
        private int _start, _end, _handedStart;
        private long _bufferOffset;
        private bool _fileEnded;

        public bool HandedEndOfFile { get; private set; }

        /// <summary>File offset of the next unread byte.</summary>
        public long Offset => _bufferOffset + _start;

        public long LastHandedOffset => _bufferOffset + _handedStart;

        public long WindowOffset => _bufferOffset + _handedStart;

        public int HandedLength => _start - _handedStart;

        public bool AtEndOfFile => _fileEnded;

        public long FileLength => _bufferOffset + _end;

        public ReadOnlySpan<byte> Available => _buffer.AsSpan(_start, _end - _start);

        public void BeginMember()
        {
            HandedEndOfFile = false;
            _handedStart = _start;
        }

        /// <summary>The last handed range and what follows it, at least <paramref name="extra"/> bytes when the file has them.</summary>
        public ReadOnlySpan<byte> TrailerWindow(int extra)
        {
            var handed = _start - _handedStart;
            Compact(_handedStart);
            Fill(handed + extra);
            return _buffer.AsSpan(0, Math.Min(_end, handed + extra));
        }

        /// <summary>Continues reading right after the trailer, which ends <paramref name="length"/> bytes into the window.</summary>
        public void ResumeAfterTrailer(int length)
        {
            _start = length;
            _handedStart = _start;
        }

        /// <summary>True when at least <paramref name="count"/> unread bytes are buffered (reading on as needed).</summary>
        public bool Ensure(int count)
        {
            if (_end - _start >= count) return true;
            Compact(_start);
            Fill(count);
            return _end - _start >= count;
        }

        public void Skip(int count) => _start += count;

        public bool TrySkip(int count)
        {
            while (count > 0)
            {
                if (!Ensure(1)) return false;
                var take = Math.Min(count, _end - _start);
                _start += take;
                count -= take;
            }
            return true;
        }

        public bool TrySkipPastZero()
        {
            while (true)
            {
                if (!Ensure(1)) return false;
                var zero = Available.IndexOf((byte)0);
                if (zero >= 0) { _start += zero + 1; return true; }
                _start = _end;
            }
        }

        public override int Read(Span<byte> destination)
        {
            if (_start == _end)
            {
                Compact(_start);
                Fill(1);
            }
            _handedStart = _start;
            if (_start == _end)
            {
                HandedEndOfFile = true;
                return 0;
            }
            var n = Math.Min(destination.Length, _end - _start);
            _buffer.AsSpan(_start, n).CopyTo(destination);
            _start += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        /// <summary>Moves [from, end) to the front of the buffer.</summary>
        private void Compact(int from)
        {
            if (from == 0) return;
            Buffer.BlockCopy(_buffer, from, _buffer, 0, _end - from);
            _bufferOffset += from;
            _start -= from;
            _handedStart = Math.Max(0, _handedStart - from);
            _end -= from;
        }

        /// <summary>Reads until the buffer holds <paramref name="count"/> bytes from its front, or the file ends.</summary>
        private void Fill(int count)
        {
            if (count > _buffer.Length) Array.Resize(ref _buffer, Math.Max(count, _buffer.Length * 2));
            while (_end < count && !_fileEnded)
            {
                var n = file.Read(_buffer, _end, _buffer.Length - _end);
                if (n == 0) _fileEnded = true;
                _end += n;
            }
        }

        public override bool CanRead => true;
        // Stryker disable once Boolean: the deflater, this stream's only reader, never asks whether it can seek
        public override bool CanSeek => false;
        // Stryker disable once Boolean: the deflater, this stream's only reader, never asks whether it can write
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
