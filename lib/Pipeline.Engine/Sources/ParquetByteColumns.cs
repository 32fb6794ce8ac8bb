using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using Parquet.Meta;

namespace Pipeline.Engine.Sources;

/// <summary>
/// The fast Parquet path: reads one column chunk of UTF-8 strings (BYTE_ARRAY) straight from the file and
/// decodes its pages into byte ranges over one pooled buffer, without a string per cell. Covers what
/// snapshot writers produce (PLAIN and dictionary encodings; uncompressed, Snappy, gzip, zstd; data pages
/// v1 and v2; flat optional columns and one level of list); anything else throws
/// <see cref="NotSupportedException"/> and the caller falls back to Parquet.Net.
/// </summary>
internal sealed class ParquetByteColumn : IDisposable
{
    /// <summary>Decompressed page bytes; every value is a range of it.</summary>
    private byte[] _data = [];
    private int _dataLength;
    /// <summary>Per value slot: start in <see cref="_data"/>, and length (-1 = null / no element).</summary>
    private int[] _start = [];
    private int[] _length = [];
    private int[] _definition = [];
    private int[] _repetition = [];
    private int[] _dictStart = [];
    private int[] _dictLength = [];
    private int[] _indices = [];
    /// <summary>Per value slot: its dictionary entry, or -1 (null, or a PLAIN page).</summary>
    private int[] _slotEntry = [];
    private int _dictionaryCount;

    public int Slots { get; private set; }

    /// <summary>True when every value (and dictionary entry) is valid source text; else rows are checked one by one.</summary>
    public bool AllText { get; private set; }

    /// <summary>Entries of the chunk's dictionary (0 when it has none).</summary>
    public int DictionaryCount => _dictionaryCount;

    public ReadOnlySpan<byte> DictionaryValue(int entry) => _data.AsSpan(_dictStart[entry], _dictLength[entry]);

    /// <summary>The slot's dictionary entry, or -1 when its value is null or was not dictionary-encoded.</summary>
    public int Entry(int slot) => _slotEntry[slot];

    public ReadOnlySpan<byte> Value(int slot) => _length[slot] < 0 ? default : _data.AsSpan(_start[slot], _length[slot]);

    public bool IsNull(int slot) => _length[slot] < 0;

    public int Definition(int slot) => _definition[slot];

    public int Repetition(int slot) => _repetition[slot];

    /// <summary>
    /// Where the column chunk lies in the file (from its dictionary page, if any, to its end); false when this path does not
    /// cover the column (not BYTE_ARRAY, nested lists, a chunk over 1 GiB: the largest pooled buffer), so nothing is read for it.
    /// </summary>
    public static bool TryGetRange(ColumnMetaData meta, int maxRepetition, out long start, out int size)
    {
        start = meta.DictionaryPageOffset is > 0 and var d && d < meta.DataPageOffset ? d : meta.DataPageOffset;
        size = meta.TotalCompressedSize is >= 0 and <= 1 << 30 ? (int)meta.TotalCompressedSize : -1;
        return meta.Type == Parquet.Meta.Type.BYTE_ARRAY && maxRepetition <= 1 && start >= 0 && size >= 0;
    }

    /// <summary>
    /// Decodes the column chunk <paramref name="raw"/> (its bytes from <see cref="TryGetRange"/>).
    /// <paramref name="maxDefinition"/>/<paramref name="maxRepetition"/> come from the schema.
    /// </summary>
    public void Load(ReadOnlySpan<byte> raw, ColumnMetaData meta, int maxDefinition, int maxRepetition, ParquetDecompressor decompressor)
    {
        if (meta.Type != Parquet.Meta.Type.BYTE_ARRAY) throw new NotSupportedException("not a BYTE_ARRAY column");
        if (maxRepetition > 1) throw new NotSupportedException("nested lists");
        var size = raw.Length;
        var slots = checked((int)meta.NumValues);
        Rent(ref _start, slots);
        Rent(ref _length, slots);
        Rent(ref _definition, slots);
        Rent(ref _repetition, slots);
        Rent(ref _slotEntry, slots);
        _dictionaryCount = 0;
        Rent(ref _data, Math.Max(1024, checked((int)Math.Min(int.MaxValue, meta.TotalUncompressedSize))));
        _dataLength = 0;
        Slots = 0;
        var dictionaryCount = -1;
        var position = 0;
        while (Slots < slots)
        {
            if (position >= size) throw new InvalidDataException("the column chunk ends before all its values");
            var header = ThriftPageHeader.Read(raw[position..size], out var headerLength);
            position += headerLength;
            var page = raw.Slice(position, header.CompressedSize);
            position += header.CompressedSize;
            switch (header.Type)
            {
                case PageType.DICTIONARY_PAGE:
                {
                    var at = Decompress(page, header.UncompressedSize, meta.Codec, decompressor);
                    dictionaryCount = _dictionaryCount = header.NumValues;
                    Rent(ref _dictStart, dictionaryCount);
                    Rent(ref _dictLength, dictionaryCount);
                    var p = at;
                    for (var i = 0; i < dictionaryCount; i++)
                    {
                        var len = BinaryPrimitives.ReadInt32LittleEndian(_data.AsSpan(p));
                        _dictStart[i] = p + 4;
                        _dictLength[i] = len;
                        p += 4 + len;
                    }
                    break;
                }
                case PageType.DATA_PAGE:
                {
                    var at = Decompress(page, header.UncompressedSize, meta.Codec, decompressor);
                    var end = at + header.UncompressedSize;
                    var p = at;
                    p = ReadLevels(_data.AsSpan(0, end), p, maxRepetition, _repetition.AsSpan(Slots, header.NumValues), prefixed: true, 0);
                    p = ReadLevels(_data.AsSpan(0, end), p, maxDefinition, _definition.AsSpan(Slots, header.NumValues), prefixed: true, 0);
                    DecodeValues(p, end, header.Encoding, header.NumValues, maxDefinition, dictionaryCount);
                    break;
                }
                case PageType.DATA_PAGE_V2:
                {
                    var levels = header.RepetitionLevelsLength + header.DefinitionLevelsLength;
                    ReadLevels(page[..header.RepetitionLevelsLength], 0, maxRepetition, _repetition.AsSpan(Slots, header.NumValues), prefixed: false, header.RepetitionLevelsLength);
                    ReadLevels(page.Slice(header.RepetitionLevelsLength, header.DefinitionLevelsLength), 0, maxDefinition, _definition.AsSpan(Slots, header.NumValues), prefixed: false, header.DefinitionLevelsLength);
                    var values = page[levels..];
                    var at = header.IsCompressed
                        ? Decompress(values, header.UncompressedSize - levels, meta.Codec, decompressor)
                        : Decompress(values, values.Length, CompressionCodec.UNCOMPRESSED, decompressor);
                    DecodeValues(at, _dataLength, header.Encoding, header.NumValues, maxDefinition, dictionaryCount);
                    break;
                }
                default:
                    break; // index pages carry no values
            }
        }
        AllText = true;
        for (var e = 0; e < _dictionaryCount && AllText; e++) AllText = SourceText.IsValid(DictionaryValue(e));
        for (var i = 0; i < Slots && AllText; i++) if (_slotEntry[i] < 0 && _length[i] > 0) AllText = SourceText.IsValid(Value(i));
    }

    private void DecodeValues(int p, int end, Encoding encoding, int count, int maxDefinition, int dictionaryCount)
    {
        var first = Slots;
        if (encoding == Encoding.PLAIN)
        {
            for (var i = first; i < first + count; i++)
            {
                _slotEntry[i] = -1;
                if (_definition[i] != maxDefinition) { _length[i] = -1; continue; }
                var len = BinaryPrimitives.ReadInt32LittleEndian(_data.AsSpan(p, 4));
                if ((uint)len > (uint)(end - p - 4)) throw new InvalidDataException("a value runs past its page");
                _start[i] = p + 4;
                _length[i] = len;
                p += 4 + len;
            }
        }
        else if (encoding is Encoding.PLAIN_DICTIONARY or Encoding.RLE_DICTIONARY)
        {
            if (dictionaryCount < 0) throw new InvalidDataException("a dictionary-encoded page without a dictionary");
            var present = 0;
            for (var i = first; i < first + count; i++) if (_definition[i] == maxDefinition) present++;
            Rent(ref _indices, Math.Max(present, 1));
            if (present > 0)
            {
                var width = _data[p];
                RleHybrid.Decode(_data.AsSpan(p + 1, end - p - 1), width, _indices.AsSpan(0, present));
            }
            var k = 0;
            for (var i = first; i < first + count; i++)
            {
                if (_definition[i] != maxDefinition) { _length[i] = -1; _slotEntry[i] = -1; continue; }
                var index = _indices[k++];
                if ((uint)index >= (uint)dictionaryCount) throw new InvalidDataException("a dictionary index is out of range");
                _slotEntry[i] = index;
                _start[i] = _dictStart[index];
                _length[i] = _dictLength[index];
            }
        }
        else throw new NotSupportedException($"encoding {encoding}");
        Slots += count;
    }

    /// <summary>Reads RLE/bit-packed levels (v1: prefixed by their byte length); no levels when the maximum is 0.</summary>
    private static int ReadLevels(ReadOnlySpan<byte> data, int p, int maxLevel, Span<int> levels, bool prefixed, int length)
    {
        if (maxLevel == 0) { levels.Clear(); return p; }
        if (prefixed)
        {
            length = BinaryPrimitives.ReadInt32LittleEndian(data[p..]);
            p += 4;
        }
        RleHybrid.Decode(data.Slice(p, length), 32 - BitOperations.LeadingZeroCount((uint)maxLevel), levels);
        return p + length;
    }

    /// <summary>Decompresses a page to the end of <see cref="_data"/>; returns where it starts.</summary>
    private int Decompress(ReadOnlySpan<byte> source, int uncompressed, CompressionCodec codec, ParquetDecompressor decompressor)
    {
        if (_data.Length - _dataLength < uncompressed)
        {
            var bigger = SourceBuffers<byte>.Rent(Math.Max(_dataLength + uncompressed, _data.Length * 2));
            Buffer.BlockCopy(_data, 0, bigger, 0, _dataLength);
            SourceBuffers<byte>.Return(_data);
            _data = bigger;
        }
        var at = _dataLength;
        decompressor.Decompress(codec, source, _data.AsSpan(at, uncompressed));
        _dataLength += uncompressed;
        return at;
    }

    private static void Rent<T>(ref T[] array, int minimum) where T : unmanaged
    {
        if (array.Length >= minimum) return;
        if (array.Length > 0) SourceBuffers<T>.Return(array);
        array = SourceBuffers<T>.Rent(minimum);
    }

    private static void Return<T>(ref T[] array) where T : unmanaged
    {
        if (array.Length > 0) SourceBuffers<T>.Return(array);
        array = [];
    }

    public void Dispose()
    {
        Return(ref _data);
        Return(ref _start);
        Return(ref _length);
        Return(ref _definition);
        Return(ref _repetition);
        Return(ref _dictStart);
        Return(ref _dictLength);
        Return(ref _indices);
        Return(ref _slotEntry);
        Slots = 0;
        _dictionaryCount = 0;
    }
}

/// <summary>Page decompression for the codecs snapshot writers use; one per worker (zstd keeps a context).</summary>
internal sealed class ParquetDecompressor : IDisposable
{
    private ZstdSharp.Decompressor? _zstd;

    public void Decompress(CompressionCodec codec, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int n;
        switch (codec)
        {
            case CompressionCodec.UNCOMPRESSED:
                if (source.Length != destination.Length) throw new InvalidDataException("an uncompressed page has the wrong size");
                source.CopyTo(destination);
                return;
            case CompressionCodec.ZSTD:
                n = (_zstd ??= new ZstdSharp.Decompressor()).Unwrap(source, destination);
                break;
            case CompressionCodec.SNAPPY:
                n = Snappier.Snappy.Decompress(source, destination);
                break;
            case CompressionCodec.GZIP:
            {
                // Rare in snapshots; the copy keeps this path free of unsafe code.
                using var gzip = new GZipStream(new MemoryStream(source.ToArray()), CompressionMode.Decompress);
                n = 0;
                int r;
                while (n < destination.Length && (r = gzip.Read(destination[n..])) > 0) n += r;
                break;
            }
            default:
                throw new NotSupportedException($"codec {codec}");
        }
        if (n != destination.Length) throw new InvalidDataException($"a {codec} page decompressed to {n} bytes, its header says {destination.Length}");
    }

    public void Dispose() => _zstd?.Dispose();
}

/// <summary>The RLE / bit-packing hybrid encoding of Parquet levels and dictionary indices.</summary>
internal static class RleHybrid
{
    public static void Decode(ReadOnlySpan<byte> data, int bitWidth, Span<int> values)
    {
        if (bitWidth is < 0 or > 32) throw new InvalidDataException($"bit width {bitWidth}");
        var p = 0;
        var filled = 0;
        var byteWidth = (bitWidth + 7) / 8;
        while (filled < values.Length)
        {
            if (p >= data.Length) throw new InvalidDataException("RLE data ends early");
            var header = ReadVarint(data, ref p);
            if ((header & 1) == 0)
            {
                var count = (int)(header >> 1);
                var value = 0;
                for (var i = 0; i < byteWidth; i++) value |= data[p + i] << (8 * i);
                p += byteWidth;
                var take = Math.Min(count, values.Length - filled);
                values.Slice(filled, take).Fill(value);
                filled += take;
            }
            else
            {
                var count = (int)(header >> 1) * 8;
                var bytes = (int)(header >> 1) * bitWidth;
                var take = Math.Min(count, values.Length - filled);
                if (bitWidth == 0) values.Slice(filled, take).Clear();
                else
                {
                    var packed = data.Slice(p, Math.Min(bytes, data.Length - p));
                    var mask = bitWidth == 32 ? ulong.MaxValue >> 32 : (1UL << bitWidth) - 1;
                    var i = 0;
                    if (bitWidth <= 8)
                    {
                        // 8 values of w bits are w bytes: one little-endian load per group.
                        for (; i + 8 <= take && (i / 8 + 1) * bitWidth <= packed.Length; i += 8)
                        {
                            var group = packed.Slice(i / 8 * bitWidth, bitWidth);
                            ulong word = 0;
                            for (var j = 0; j < bitWidth; j++) word |= (ulong)group[j] << (8 * j);
                            var target = values.Slice(filled + i, 8);
                            for (var j = 0; j < 8; j++) target[j] = (int)((word >> (j * bitWidth)) & mask);
                        }
                    }
                    long bit = (long)i * bitWidth;
                    for (; i < take; i++, bit += bitWidth)
                    {
                        var b = (int)(bit >> 3);
                        ulong word = 0;
                        for (var j = 0; j < 5 && b + j < packed.Length; j++) word |= (ulong)packed[b + j] << (8 * j);
                        values[filled + i] = (int)((word >> (int)(bit & 7)) & mask);
                    }
                }
                p += bytes;
                filled += take;
            }
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int p)
    {
        ulong result = 0;
        var shift = 0;
        while (true)
        {
            var b = data[p++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
            shift += 7;
            if (shift > 63) throw new InvalidDataException("a varint is too long");
        }
    }
}

/// <summary>The few fields of a Thrift-compact PageHeader the decoder needs; everything else is skipped.</summary>
internal struct ThriftPageHeader
{
    public PageType Type;
    public int UncompressedSize;
    public int CompressedSize;
    public int NumValues;
    public Encoding Encoding;
    public int DefinitionLevelsLength;
    public int RepetitionLevelsLength;
    public bool IsCompressed;

    public static ThriftPageHeader Read(ReadOnlySpan<byte> data, out int length)
    {
        var r = new CompactReader(data);
        var h = new ThriftPageHeader { IsCompressed = true };
        r.ReadStruct((ref CompactReader reader, short id, int type) =>
        {
            switch (id)
            {
                case 1 when type == CompactReader.I32: h.Type = (PageType)reader.ReadInt(); return true;
                case 2 when type == CompactReader.I32: h.UncompressedSize = reader.ReadInt(); return true;
                case 3 when type == CompactReader.I32: h.CompressedSize = reader.ReadInt(); return true;
                case 5 when type == CompactReader.Struct: // DataPageHeader
                case 7 when type == CompactReader.Struct: // DictionaryPageHeader
                    reader.ReadStruct((ref CompactReader inner, short f, int t) =>
                    {
                        if (f == 1 && t == CompactReader.I32) { h.NumValues = inner.ReadInt(); return true; }
                        if (f == 2 && t == CompactReader.I32) { h.Encoding = (Encoding)inner.ReadInt(); return true; }
                        return false;
                    });
                    return true;
                case 8 when type == CompactReader.Struct: // DataPageHeaderV2
                    reader.ReadStruct((ref CompactReader inner, short f, int t) =>
                    {
                        switch (f)
                        {
                            case 1 when t == CompactReader.I32: h.NumValues = inner.ReadInt(); return true;
                            case 4 when t == CompactReader.I32: h.Encoding = (Encoding)inner.ReadInt(); return true;
                            case 5 when t == CompactReader.I32: h.DefinitionLevelsLength = inner.ReadInt(); return true;
                            case 6 when t == CompactReader.I32: h.RepetitionLevelsLength = inner.ReadInt(); return true;
                            case 7 when t is CompactReader.True or CompactReader.False: h.IsCompressed = t == CompactReader.True; return true;
                            default: return false;
                        }
                    });
                    return true;
                default:
                    return false;
            }
        });
        length = r.Position;
        if (h.CompressedSize < 0 || h.UncompressedSize < 0 || h.NumValues < 0) throw new InvalidDataException("a page header has a negative size");
        return h;
    }
}

/// <summary>Minimal Thrift compact protocol reader: structs, ints, and skipping whatever else is there.</summary>
internal ref struct CompactReader(ReadOnlySpan<byte> data)
{
    public const int True = 1, False = 2, Byte = 3, I16 = 4, I32 = 5, I64 = 6, Double = 7, Binary = 8, List = 9, Set = 10, Map = 11, Struct = 12;

    private readonly ReadOnlySpan<byte> _data = data;

    public int Position { get; private set; }

    public delegate bool FieldHandler(ref CompactReader reader, short id, int type);

    /// <summary>Calls <paramref name="field"/> for each field; a field it does not take (false) is skipped.</summary>
    public void ReadStruct(FieldHandler field)
    {
        short last = 0;
        while (true)
        {
            var b = _data[Position++];
            if (b == 0) return;
            var type = b & 0x0F;
            var delta = b >> 4;
            var id = delta != 0 ? (short)(last + delta) : (short)ZigZag(ReadVarint());
            last = id;
            if (!field(ref this, id, type)) Skip(type);
        }
    }

    public int ReadInt() => (int)ZigZag(ReadVarint());

    private void Skip(int type)
    {
        switch (type)
        {
            case True or False: return; // the value is in the type
            case Byte: Position++; return;
            case I16 or I32 or I64: ReadVarint(); return;
            case Double: Position += 8; return;
            case Binary:
            {
                var length = checked((int)ReadVarint()); // read first: `Position += ReadVarint()` would lose the varint's own bytes
                Position += length;
                return;
            }
            case List or Set:
            {
                var b = _data[Position++];
                var size = b >> 4;
                if (size == 15) size = checked((int)ReadVarint());
                var element = b & 0x0F;
                for (var i = 0; i < size; i++)
                {
                    if (element is True or False) Position++; // booleans in a collection take a byte
                    else Skip(element);
                }
                return;
            }
            case Map:
            {
                var size = checked((int)ReadVarint());
                if (size == 0) return;
                var kinds = _data[Position++];
                for (var i = 0; i < size; i++)
                {
                    SkipValue(kinds >> 4);
                    SkipValue(kinds & 0x0F);
                }
                return;
            }
            case Struct: ReadStruct(static (ref CompactReader _, short _, int _) => false); return;
            default: throw new InvalidDataException($"unknown Thrift compact type {type}");
        }
    }

    private void SkipValue(int type)
    {
        if (type is True or False) Position++;
        else Skip(type);
    }

    private ulong ReadVarint()
    {
        ulong result = 0;
        var shift = 0;
        while (true)
        {
            var b = _data[Position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
            shift += 7;
            if (shift > 63) throw new InvalidDataException("a varint is too long");
        }
    }

    private static long ZigZag(ulong n) => (long)(n >> 1) ^ -(long)(n & 1);
}
