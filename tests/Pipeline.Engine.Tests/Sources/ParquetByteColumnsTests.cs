using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Parquet.Meta;
using Pipeline.Engine.Sources;
using Encoding = Parquet.Meta.Encoding;

namespace Pipeline.Engine.Tests.Sources;

/// <summary>
/// The fast Parquet decoder on column chunks built byte by byte: what Parquet.Net does not write (data pages v2, index
/// pages, unknown header fields of every Thrift type) and damaged chunks, which must fail, never decode to other values.
/// </summary>
public class ParquetByteColumnsTests
{
    private const int DataPage = 0, IndexPage = 1, DictionaryPage = 2, DataPageV2 = 3;

    /// <summary>A Thrift compact struct writer, enough for page headers.</summary>
    private sealed class Compact
    {
        private readonly List<byte> _bytes = [];
        private readonly Stack<short> _outer = new();
        private short _last;

        public Compact Field(short id, int type)
        {
            var delta = id - _last;
            if (delta is > 0 and <= 15) _bytes.Add((byte)((delta << 4) | type));
            else
            {
                _bytes.Add((byte)type);
                Varint((ulong)((id << 1) ^ (id >> 15)));
            }
            _last = id;
            return this;
        }

        public Compact I32(short id, int value) => Field(id, 5).Varint((ulong)(uint)((value << 1) ^ (value >> 31)));

        public Compact Bool(short id, bool value) => Field(id, value ? 1 : 2);

        public Compact Begin(short id)
        {
            Field(id, 12);
            _outer.Push(_last);
            _last = 0;
            return this;
        }

        public Compact End()
        {
            _bytes.Add(0);
            if (_outer.Count > 0) _last = _outer.Pop();
            return this;
        }

        public Compact Raw(params byte[] bytes)
        {
            _bytes.AddRange(bytes);
            return this;
        }

        public Compact Varint(ulong value)
        {
            while (value >= 0x80) { _bytes.Add((byte)(value | 0x80)); value >>= 7; }
            _bytes.Add((byte)value);
            return this;
        }

        public byte[] ToArray() => [.. _bytes];
    }

    private static byte[] Plain(params string?[] values) =>
        values.Where(v => v is not null).SelectMany(v =>
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(v!);
            var length = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
            return length.Concat(bytes);
        }).ToArray();

    /// <summary>RLE/bit-packed levels as one bit-packed run (8 values per group) of the given width.</summary>
    private static byte[] BitPacked(int width, params int[] values)
    {
        var groups = (values.Length + 7) / 8;
        var packed = new byte[groups * width];
        for (var i = 0; i < values.Length; i++)
            for (var b = 0; b < width; b++)
                if ((values[i] >> b & 1) != 0) packed[(i * width + b) / 8] |= (byte)(1 << ((i * width + b) % 8));
        return [.. new Compact().Varint((ulong)(groups << 1 | 1)).ToArray(), .. packed];
    }

    private static byte[] Prefixed(byte[] levels)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, levels.Length);
        return [.. length, .. levels];
    }

    private static byte[] PageV1(int type, byte[] body, int values, Encoding encoding, Action<Compact>? more = null)
    {
        var header = new Compact().I32(1, type).I32(2, body.Length).I32(3, body.Length);
        more?.Invoke(header);
        header.Begin((short)(type == DictionaryPage ? 7 : 5)).I32(1, values).I32(2, (int)encoding).End().End();
        return [.. header.ToArray(), .. body];
    }

    private static ColumnMetaData Meta(byte[] chunk, long values, CompressionCodec codec = CompressionCodec.UNCOMPRESSED, Parquet.Meta.Type type = Parquet.Meta.Type.BYTE_ARRAY) => new()
    {
        Type = type, NumValues = values, Codec = codec, TotalCompressedSize = chunk.Length, TotalUncompressedSize = chunk.Length,
        Encodings = [], PathInSchema = ["c"], DataPageOffset = 4,
    };

    private static string?[] Values(ParquetByteColumn column) =>
        Enumerable.Range(0, column.Slots).Select(s => column.IsNull(s) ? null : System.Text.Encoding.UTF8.GetString(column.Value(s))).ToArray();

    private static ParquetByteColumn Load(byte[] chunk, long values, int maxDefinition, int maxRepetition = 0, CompressionCodec codec = CompressionCodec.UNCOMPRESSED, ColumnMetaData? meta = null)
    {
        var column = new ParquetByteColumn();
        column.Load(chunk, meta ?? Meta(chunk, values, codec), maxDefinition, maxRepetition, new ParquetDecompressor());
        return column;
    }

    [Test]
    public void A_v1_page_with_unknown_header_fields_of_every_thrift_type_decodes()
    {
        var body = Prefixed(BitPacked(1, 1, 0, 1)).Concat(Plain("ab", null, "c")).ToArray();
        var page = PageV1(DataPage, body, 3, Encoding.PLAIN, header => header
            .I32(4, 12345)                                                       // crc
            .Field(20, 7).Raw(1, 2, 3, 4, 5, 6, 7, 8)                            // double, in the long field form
            .Field(21, 9).Raw(0x25, 0x02, 0x04)                                  // list<i32> of 2
            .Field(22, 9).Raw(0x21, 0x01, 0x02)                                  // list<bool> of 2: a byte each
            .Field(23, 9).Raw(0xF5, 16).Raw(Enumerable.Repeat((byte)0x02, 16).ToArray()) // list<i32> of 16: size in a varint
            .Field(24, 10).Raw(0x18, 0x01, (byte)'x')                            // set<binary> of 1
            .Field(25, 11).Raw(0x01, 0x51, 0x02, 0x01)                           // map<i32,bool> of 1
            .Field(26, 11).Raw(0x00)                                             // empty map
            .Bool(27, true).Bool(28, false)
            .Field(29, 3).Raw(0x7F)                                              // byte
            .Field(30, 4).Raw(0x81, 0x01)                                        // i16
            .Field(31, 6).Raw(0xFF, 0xFF, 0x01)                                  // i64
            .Field(32, 8).Raw(0x03, (byte)'a', (byte)'b', (byte)'c')             // binary
            .Begin(33).I32(1, 7).Field(2, 8).Raw(0x01, (byte)'z').End());         // a struct

        var column = Load(page, 3, maxDefinition: 1);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Values(column), Is.EqualTo(new[] { "ab", null, "c" }));
            Assert.That(Enumerable.Range(0, 3).Select(column.Definition), Is.EqualTo(new[] { 1, 0, 1 }));
            Assert.That(Enumerable.Range(0, 3).Select(column.Entry), Is.All.EqualTo(-1));
            Assert.That(column.AllText, Is.True);
            Assert.That(column.DictionaryCount, Is.Zero);
        }
    }

    [TestCase(false, CompressionCodec.UNCOMPRESSED)]
    [TestCase(false, CompressionCodec.SNAPPY)]
    [TestCase(true, CompressionCodec.SNAPPY)]
    [TestCase(true, CompressionCodec.GZIP)]
    public void A_v2_page_keeps_its_levels_uncompressed_and_its_values_compressed_when_it_says_so(bool compressed, CompressionCodec codec)
    {
        // A list of strings: rows ["a", "bc"], [], null, [null, "d"].
        int[] repetition = [0, 1, 0, 0, 0, 1];
        int[] definition = [3, 3, 1, 0, 2, 3];
        var rep = BitPacked(1, repetition);
        var def = BitPacked(2, definition);
        var values = Plain("a", "bc", "d");
        var stored = compressed ? Compress(codec, values) : values;
        var header = new Compact().I32(1, DataPageV2).I32(2, rep.Length + def.Length + values.Length).I32(3, rep.Length + def.Length + stored.Length)
            .Begin(8).I32(1, 6).I32(2, 2).I32(3, 4).I32(4, (int)Encoding.PLAIN).I32(5, def.Length).I32(6, rep.Length);
        if (!compressed) header.Bool(7, false);
        var page = header.End().End().ToArray().Concat(rep).Concat(def).Concat(stored).ToArray();

        var column = Load(page, 6, maxDefinition: 3, maxRepetition: 1, codec);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Values(column), Is.EqualTo(new[] { "a", "bc", null, null, null, "d" }));
            Assert.That(Enumerable.Range(0, 6).Select(column.Repetition), Is.EqualTo(repetition));
            Assert.That(Enumerable.Range(0, 6).Select(column.Definition), Is.EqualTo(definition));
        }
    }

    [Test]
    public void A_dictionary_page_then_an_index_page_then_dictionary_encoded_pages_decode_to_the_entries()
    {
        // 300 entries: indices take 9 bits, past the byte-wide fast path.
        var entries = Enumerable.Range(0, 300).Select(i => $"city{i}").ToArray();
        var dictionary = PageV1(DictionaryPage, Plain(entries), entries.Length, Encoding.PLAIN);
        var index = new Compact().I32(1, IndexPage).I32(2, 3).I32(3, 3).End().Raw(9, 9, 9).ToArray();
        int[] picks = [299, 0, 256, 7, 255, 1, 298, 3, 150];
        var first = PageV1(DataPage, Prefixed(BitPacked(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0)).Append((byte)9).Concat(BitPacked(9, picks)).ToArray(), 10, Encoding.RLE_DICTIONARY);
        var second = PageV1(DataPage, Prefixed(BitPacked(1, 1, 1)).Append((byte)9).Concat(new Compact().Varint(2 << 1).ToArray()).Concat(new byte[] { 42, 0 }).ToArray(), 2, Encoding.PLAIN_DICTIONARY);
        var chunk = dictionary.Concat(index).Concat(first).Concat(second).ToArray();

        var column = Load(chunk, 12, maxDefinition: 1);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Values(column), Is.EqualTo(picks.Select(p => entries[p]).Append(null).Append("city42").Append("city42")));
            Assert.That(Enumerable.Range(0, 12).Select(column.Entry), Is.EqualTo(picks.Append(-1).Append(42).Append(42)));
            Assert.That(column.DictionaryCount, Is.EqualTo(300));
            Assert.That(System.Text.Encoding.UTF8.GetString(column.DictionaryValue(299)), Is.EqualTo("city299"));
            Assert.That(column.AllText, Is.True);
        }
    }

    [Test]
    public void A_required_column_has_no_levels_and_a_page_of_nulls_needs_no_indices()
    {
        var required = Load(PageV1(DataPage, Plain("x", "", "yz"), 3, Encoding.PLAIN), 3, maxDefinition: 0);
        var dictionary = PageV1(DictionaryPage, Plain("only"), 1, Encoding.PLAIN);
        var nulls = PageV1(DataPage, Prefixed(BitPacked(1, 0, 0)), 2, Encoding.RLE_DICTIONARY);
        var allNull = Load([.. dictionary, .. nulls], 2, maxDefinition: 1);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Values(required), Is.EqualTo(new[] { "x", "", "yz" }));
            Assert.That(Enumerable.Range(0, 3).Select(required.Definition), Is.All.Zero);
            Assert.That(Values(allNull), Is.EqualTo(new string?[] { null, null }));
            Assert.That(Enumerable.Range(0, 2).Select(allNull.Entry), Is.All.EqualTo(-1));
        }
    }

    [Test]
    public void Bytes_that_are_not_text_in_a_value_or_a_dictionary_entry_clear_all_text()
    {
        byte[] latin1 = [1, 0, 0, 0, 0xFC];
        var plain = Load(PageV1(DataPage, latin1, 1, Encoding.PLAIN), 1, maxDefinition: 0);
        var dictionary = PageV1(DictionaryPage, [.. Plain("ok"), .. latin1], 2, Encoding.PLAIN);
        var data = PageV1(DataPage, [1, .. new Compact().Varint(1 << 1).ToArray(), 0], 1, Encoding.RLE_DICTIONARY);
        var encoded = Load([.. dictionary, .. data], 1, maxDefinition: 0);

        Assert.That((plain.AllText, encoded.AllText), Is.EqualTo((false, false)));
    }

    [Test]
    public void Damaged_chunks_fail_instead_of_decoding_to_other_values()
    {
        var good = PageV1(DataPage, Plain("a", "b"), 2, Encoding.PLAIN);
        var runsPast = PageV1(DataPage, [5, 0, 0, 0, (byte)'a'], 1, Encoding.PLAIN);
        var noDictionary = PageV1(DataPage, [1, 2, 0], 1, Encoding.RLE_DICTIONARY);
        var dictionary = PageV1(DictionaryPage, Plain("x"), 1, Encoding.PLAIN);
        var outOfRange = PageV1(DataPage, [1, .. new Compact().Varint(1 << 1).ToArray(), 1], 1, Encoding.RLE_DICTIONARY);
        var negative = new Compact().I32(1, DataPage).I32(2, -1).I32(3, 0).End().ToArray();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => Load(good, 3, maxDefinition: 0), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("the column chunk ends before all its values"));
            Assert.That(() => Load(runsPast, 1, maxDefinition: 0), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("a value runs past its page"));
            Assert.That(() => Load(noDictionary, 1, maxDefinition: 0), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("a dictionary-encoded page without a dictionary"));
            Assert.That(() => Load([.. dictionary, .. outOfRange], 1, maxDefinition: 0), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("a dictionary index is out of range"));
            Assert.That(() => Load(negative, 1, maxDefinition: 0), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("a page header has a negative size"));
            Assert.That(() => Load(PageV1(DataPage, Plain("a"), 1, Encoding.DELTA_BYTE_ARRAY), 1, maxDefinition: 0), Throws.InstanceOf<NotSupportedException>().With.Message.EqualTo("encoding DELTA_BYTE_ARRAY"));
            Assert.That(() => Load(good, 2, maxDefinition: 0, meta: Meta(good, 2, type: Parquet.Meta.Type.INT32)), Throws.InstanceOf<NotSupportedException>());
            Assert.That(() => Load(good, 2, maxDefinition: 0, maxRepetition: 2), Throws.InstanceOf<NotSupportedException>().With.Message.EqualTo("nested lists"));
            Assert.That(() => Load(new Compact().Field(1, 13).ToArray(), 1, maxDefinition: 0), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("unknown Thrift compact type 13"));
        }
    }

    [Test]
    public void A_page_header_varint_of_more_than_64_bits_is_damage()
    {
        byte[] header = [0x15, .. Enumerable.Repeat((byte)0xFF, 10), 0x01];
        Assert.That(() => ThriftPageHeader.Read(header, out _), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("a varint is too long"));
    }

    [Test]
    public void A_page_header_is_read_to_its_end_and_the_v2_compressed_flag_defaults_to_true()
    {
        var bytes = new Compact().I32(1, DataPageV2).I32(2, 10).I32(3, 8).Begin(8).I32(1, 4).I32(4, (int)Encoding.RLE_DICTIONARY).I32(5, 2).I32(6, 1).End().End().Raw(0xAA).ToArray();

        var header = ThriftPageHeader.Read(bytes, out var length);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(length, Is.EqualTo(bytes.Length - 1));
            Assert.That((header.Type, header.UncompressedSize, header.CompressedSize, header.NumValues), Is.EqualTo((PageType.DATA_PAGE_V2, 10, 8, 4)));
            Assert.That((header.Encoding, header.DefinitionLevelsLength, header.RepetitionLevelsLength, header.IsCompressed), Is.EqualTo((Encoding.RLE_DICTIONARY, 2, 1, true)));
        }
    }

    [TestCase(4L, 10L, 4L)]
    [TestCase(0L, 10L, 10L)]
    [TestCase(12L, 10L, 10L)]
    [TestCase(null, 10L, 10L)]
    public void The_range_starts_at_the_dictionary_page_when_it_comes_first(long? dictionary, long data, long start)
    {
        var meta = new ColumnMetaData { Type = Parquet.Meta.Type.BYTE_ARRAY, DictionaryPageOffset = dictionary, DataPageOffset = data, TotalCompressedSize = 100, Encodings = [], PathInSchema = ["c"] };

        Assert.That(ParquetByteColumn.TryGetRange(meta, 1, out var from, out var size), Is.True);
        Assert.That((from, size), Is.EqualTo((start, 100)));
    }

    [TestCase(Parquet.Meta.Type.INT32, 0, 100L)]
    [TestCase(Parquet.Meta.Type.BYTE_ARRAY, 2, 100L)]
    [TestCase(Parquet.Meta.Type.BYTE_ARRAY, 0, -1L)]
    [TestCase(Parquet.Meta.Type.BYTE_ARRAY, 0, (1L << 30) + 1)]
    public void Columns_the_fast_path_does_not_cover_have_no_range(Parquet.Meta.Type type, int maxRepetition, long size)
    {
        var meta = new ColumnMetaData { Type = type, DataPageOffset = 4, TotalCompressedSize = size, Encodings = [], PathInSchema = ["c"] };

        Assert.That(ParquetByteColumn.TryGetRange(meta, maxRepetition, out _, out _), Is.False);
        Assert.That(ParquetByteColumn.TryGetRange(new ColumnMetaData { Type = Parquet.Meta.Type.BYTE_ARRAY, DataPageOffset = 4, TotalCompressedSize = 1 << 30, Encodings = [], PathInSchema = ["c"] }, 1, out _, out var most), Is.True);
        Assert.That(most, Is.EqualTo(1 << 30));
    }

    [Test]
    public void A_page_bigger_than_the_chunk_said_grows_the_buffer_and_keeps_earlier_pages()
    {
        var first = PageV1(DataPage, Plain(new string('a', 700)), 1, Encoding.PLAIN);
        var second = PageV1(DataPage, Plain(new string('b', 900)), 1, Encoding.PLAIN);
        var chunk = first.Concat(second).ToArray();
        var meta = Meta(chunk, 2);
        meta.TotalUncompressedSize = 10; // a writer that understated it: the 1 KiB minimum buffer must grow

        var column = Load(chunk, 2, maxDefinition: 0, meta: meta);

        Assert.That(Values(column), Is.EqualTo(new[] { new string('a', 700), new string('b', 900) }));
    }

    [Test]
    public void Decompression_checks_the_size_the_page_header_gives()
    {
        using var decompressor = new ParquetDecompressor();
        var data = "0123456789"u8.ToArray();
        var destination = new byte[12];
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => decompressor.Decompress(CompressionCodec.UNCOMPRESSED, data, destination), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("an uncompressed page has the wrong size"));
            Assert.That(() => decompressor.Decompress(CompressionCodec.GZIP, Compress(CompressionCodec.GZIP, data), destination), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("a GZIP page decompressed to 10 bytes, its header says 12"));
            Assert.That(() => decompressor.Decompress(CompressionCodec.SNAPPY, Compress(CompressionCodec.SNAPPY, data), destination.AsSpan(0, 9).ToArray()), Throws.Exception);
            Assert.That(() => decompressor.Decompress(CompressionCodec.LZO, data, destination), Throws.InstanceOf<NotSupportedException>().With.Message.EqualTo("codec LZO"));
        }
        foreach (var codec in new[] { CompressionCodec.UNCOMPRESSED, CompressionCodec.SNAPPY, CompressionCodec.GZIP, CompressionCodec.ZSTD })
        {
            var output = new byte[10];
            decompressor.Decompress(codec, Compress(codec, data), output);
            Assert.That(output, Is.EqualTo(data), codec.ToString());
        }
    }

    [TestCase(-1)]
    [TestCase(33)]
    public void A_bit_width_outside_0_to_32_is_damage(int width) =>
        Assert.That(() => RleHybrid.Decode([2, 0], width, new int[1]), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo($"bit width {width}"));

    [Test]
    public void Rle_runs_fill_values_of_any_width_and_stop_where_asked()
    {
        var values = new int[7];
        // A run of 5 copies of 300 (2 bytes), then a run of 9 zeros of which only 2 are wanted.
        RleHybrid.Decode([5 << 1, 0x2C, 0x01, 9 << 1, 0x00, 0x00], 9, values);
        Assert.That(values, Is.EqualTo(new[] { 300, 300, 300, 300, 300, 0, 0 }));

        var wide = new int[2];
        RleHybrid.Decode([2 << 1, 0xFF, 0xFF, 0xFF, 0x7F], 32, wide);
        Assert.That(wide, Is.EqualTo(new[] { int.MaxValue, int.MaxValue }));

        Assert.That(() => RleHybrid.Decode([1 << 1, 3], 2, new int[2]), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("RLE data ends early"));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(3)]
    [TestCase(8)]
    [TestCase(9)]
    [TestCase(17)]
    [TestCase(32)]
    public void Bit_packed_groups_decode_to_the_packed_values(int width)
    {
        var random = new Random(width);
        var expected = Enumerable.Range(0, 21).Select(_ => width == 0 ? 0 : (int)(random.NextInt64(0, 1L << width) & 0xFFFFFFFF)).ToArray();
        var data = BitPacked(width, expected);
        var values = new int[21];

        RleHybrid.Decode(data, width, values);

        Assert.That(values, Is.EqualTo(expected));
    }

    [Test]
    public void A_bit_packed_run_continues_after_an_rle_run_at_the_right_place()
    {
        byte[] data = [3 << 1, 0x05, .. BitPacked(3, 1, 2, 3, 4, 5, 6, 7, 0)];
        var values = new int[11];

        RleHybrid.Decode(data, 3, values);

        Assert.That(values, Is.EqualTo(new[] { 5, 5, 5, 1, 2, 3, 4, 5, 6, 7, 0 }));
    }

    private static byte[] Compress(CompressionCodec codec, byte[] data)
    {
        switch (codec)
        {
            case CompressionCodec.UNCOMPRESSED: return data;
            case CompressionCodec.SNAPPY: return Snappier.Snappy.CompressToArray(data);
            case CompressionCodec.ZSTD:
            {
                using var zstd = new ZstdSharp.Compressor();
                return zstd.Wrap(data).ToArray();
            }
            default:
            {
                using var buffer = new MemoryStream();
                using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(data);
                return buffer.ToArray();
            }
        }
    }
}
