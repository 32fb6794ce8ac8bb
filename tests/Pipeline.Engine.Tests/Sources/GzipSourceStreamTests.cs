using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class GzipSourceStreamTests
{
    private const string Path = "/data/profiles.csv.gz";

    /// <summary>Rows of varied length that compress to several 64 KiB input buffers.</summary>
    private static byte[] Text(int rows, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        for (var i = 0; i < rows; i++)
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"p{i},user{random.Next()}@example.com,{new string('x', random.Next(0, 40))},S{random.Next(1, 9)}\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>A member as GZipStream writes it; for no data, GZipStream writes nothing, so that one is built by hand.</summary>
    private static byte[] Member(byte[] data)
    {
        if (data.Length == 0) return [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(data);
        return buffer.ToArray();
    }

    /// <summary>A member with every optional header field (extra, name, comment, header CRC), built by hand.</summary>
    private static byte[] MemberWithAllHeaderFields(byte[] data)
    {
        using var buffer = new MemoryStream();
        buffer.Write([0x1F, 0x8B, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3]);
        buffer.Write([3, 0, (byte)'a', (byte)'b', (byte)'c']);
        buffer.Write("profiles.csv\0"u8);
        buffer.Write("exported by a test\0"u8);
        buffer.Write([0x12, 0x34]);
        if (data.Length == 0) buffer.Write([0x03, 0x00]); // one empty final block (DeflateStream writes nothing for no data)
        else using (var deflate = new DeflateStream(buffer, CompressionLevel.Optimal, leaveOpen: true)) deflate.Write(data);
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32.HashToUInt32(data));
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], (uint)data.Length);
        buffer.Write(trailer);
        return buffer.ToArray();
    }

    private static byte[] Decompress(byte[] file, int readSize = 1 << 16)
    {
        using var stream = new GzipSourceStream(new MemoryStream(file), Path);
        using var output = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = stream.Read(buffer)) > 0) output.Write(buffer, 0, n);
        return output.ToArray();
    }

    private static string Failure(byte[] file) =>
        Assert.Throws<SourceException>(() => Decompress(file))!.Message;

    [Test]
    public void Reads_one_member()
    {
        var data = Text(20_000, 1);
        Assert.That(Decompress(Member(data)), Is.EqualTo(data));
    }

    [Test]
    public void Reads_concatenated_members_including_empty_ones_and_every_optional_header_field()
    {
        byte[][] parts = [Text(5_000, 2), [], Text(1, 3), Text(30_000, 4), []];
        var file = Member(parts[0]).Concat(Member(parts[1])).Concat(MemberWithAllHeaderFields(parts[2]))
            .Concat(Member(parts[3])).Concat(MemberWithAllHeaderFields(parts[4])).ToArray();
        Assert.That(Decompress(file), Is.EqualTo(parts.SelectMany(p => p).ToArray()));
        Assert.That(Decompress(file, readSize: 7), Is.EqualTo(parts.SelectMany(p => p).ToArray()));
    }

    [Test]
    public void A_file_cut_anywhere_inside_a_member_is_truncated_with_its_length()
    {
        byte[][] members = [Member(Text(3_000, 5)), Member(Text(2_000, 6)), MemberWithAllHeaderFields(Text(500, 7))];
        var file = members.SelectMany(m => m).ToArray();
        var boundaries = new HashSet<int> { members[0].Length, members[0].Length + members[1].Length };
        var random = new Random(42);
        // Every byte of the first header and the last trailer, and many random points in between.
        var cuts = Enumerable.Range(1, 30).Concat(Enumerable.Range(file.Length - 30, 30))
            .Concat(Enumerable.Range(0, 200).Select(_ => random.Next(1, file.Length)))
            .Where(c => !boundaries.Contains(c)).Distinct();
        foreach (var cut in cuts)
            Assert.That(Failure(file[..cut]), Does.StartWith($"{Path}: truncated gzip stream after {cut} bytes"), $"cut at {cut} of {file.Length}");
    }

    [Test]
    public void A_cut_exactly_between_members_is_whole_members_and_reads_as_such()
    {
        var first = Text(100, 8);
        var file = Member(first).Concat(Member(Text(100, 9))).ToArray();
        Assert.That(Decompress(file[..Member(first).Length]), Is.EqualTo(first));
    }

    [Test]
    public void A_stream_that_ends_after_a_sync_flush_is_truncated()
    {
        using var buffer = new MemoryStream();
        var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true);
        gzip.Write(Text(1_000, 10));
        gzip.Flush(); // a sync flush: the data so far decompresses, but the stream has no final block or trailer
        var flushed = buffer.ToArray();
        Assert.That(Failure(flushed), Does.StartWith($"{Path}: truncated gzip stream after {flushed.Length} bytes"));
    }

    [Test]
    public void A_stream_missing_only_its_trailer_is_truncated()
    {
        var file = Member(Text(1_000, 11));
        Assert.That(Failure(file[..^8]), Does.StartWith($"{Path}: truncated gzip stream after {file.Length - 8} bytes"));
    }

    [Test]
    public void A_bad_crc_is_corrupt_at_the_trailer()
    {
        var file = Member(Text(1_000, 12));
        file[^8] ^= 0x01;
        Assert.That(Failure(file), Does.StartWith($"{Path}: corrupt gzip stream at byte {file.Length - 8}: the CRC-32 of member 1"));
    }

    [Test]
    public void A_bad_length_is_corrupt_at_the_trailer()
    {
        var file = Member(Text(1_000, 13));
        file[^1] ^= 0x40;
        Assert.That(Failure(file), Does.StartWith($"{Path}: corrupt gzip stream at byte {file.Length - 4}: member 1 decompressed to"));
    }

    [Test]
    public void A_bad_crc_in_an_earlier_member_is_found_too()
    {
        var first = Member(Text(1_000, 14));
        first[^6] ^= 0x10;
        var file = first.Concat(Member(Text(1_000, 15))).ToArray();
        Assert.That(Failure(file), Does.StartWith($"{Path}: corrupt gzip stream at byte {first.Length - 8}: the CRC-32 of member 1"));
    }

    [Test]
    public void Data_that_is_not_gzip_is_named_as_such()
    {
        Assert.That(Failure("profileId,email\np1,a@example.com\n"u8.ToArray()),
            Is.EqualTo($"{Path}: corrupt gzip stream at byte 0: the file does not start with the gzip signature 1F 8B, so it is not gzip data (if it is plain text, remove .gz from its name)."));
    }

    [Test]
    public void An_empty_file_is_truncated_at_zero_bytes()
    {
        Assert.That(Failure([]), Does.StartWith($"{Path}: truncated gzip stream after 0 bytes"));
    }

    [TestCase(new byte[] { 0 })]
    [TestCase(new byte[] { 0, 0, 0, 0 })]
    [TestCase(new byte[] { (byte)'p', (byte)'9', (byte)'\n' })]
    [TestCase(new byte[] { 0x1F, 0x8C, 8, 0 })]
    public void Bytes_after_a_member_that_are_not_a_member_are_corrupt(byte[] garbage)
    {
        var member = Member(Text(100, 16));
        var file = member.Concat(garbage).Concat(Member(Text(100, 17))).ToArray();
        Assert.That(Failure(file), Does.StartWith($"{Path}: corrupt gzip stream at byte {member.Length}: what follows gzip member 1 is not another gzip member"));
    }

    [Test]
    public void Damaged_compressed_data_is_corrupt_not_end_of_file()
    {
        var random = new Random(7);
        var original = Member(Text(3_000, 18));
        for (var trial = 0; trial < 50; trial++)
        {
            var file = (byte[])original.Clone();
            var at = random.Next(10, file.Length - 8);
            file[at] ^= (byte)random.Next(1, 256);
            Assert.That(Failure(file), Does.Match($"^{System.Text.RegularExpressions.Regex.Escape(Path)}: (corrupt gzip stream at byte \\d+|truncated gzip stream after)"), $"byte {at}");
        }
    }

    [Test]
    public void A_member_with_another_compression_method_is_corrupt()
    {
        var file = Member(Text(10, 19));
        file[2] = 7;
        Assert.That(Failure(file), Does.StartWith($"{Path}: corrupt gzip stream at byte 2: member 1 uses compression method 7"));
    }

    [Test]
    public void A_member_with_reserved_header_flags_is_corrupt_at_the_flags_byte()
    {
        var file = Member(Text(10, 20));
        file[3] = 0x20;
        Assert.That(Failure(file), Is.EqualTo($"{Path}: corrupt gzip stream at byte 3: member 1 sets reserved header flags (0x20)."));
    }

    [Test]
    public void A_later_member_with_another_compression_method_names_its_number_and_byte()
    {
        var first = Member(Text(10, 21));
        var second = Member(Text(10, 22));
        second[2] = 9;
        Assert.That(Failure(first.Concat(second).ToArray()),
            Is.EqualTo($"{Path}: corrupt gzip stream at byte {first.Length + 2}: member 2 uses compression method 9, not deflate (8)."));
    }

    [Test]
    public void Invalid_deflate_data_names_the_member_and_where_it_starts()
    {
        var first = Member(Text(10, 23));
        // A final block of the reserved block type 3: no deflater accepts it.
        byte[] second = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.That(Failure(first.Concat(second).ToArray()),
            Is.EqualTo($"{Path}: corrupt gzip stream at byte {first.Length + 10}: the compressed data of member 2 (which starts at byte {first.Length}) is invalid."));
    }

    [Test]
    public void A_truncated_later_member_names_the_member_where_it_starts_and_what_to_do()
    {
        var first = Member(Text(100, 24));
        var second = Member(Text(100, 25));
        var file = first.Concat(second[..^3]).ToArray();
        Assert.That(Failure(file), Is.EqualTo(
            $"{Path}: truncated gzip stream after {file.Length} bytes: the file ends inside gzip member 2 (which starts at byte {first.Length}). " +
            "The file was cut short, for example by an interrupted copy or upload: write it again."));
    }

    [Test]
    public void A_header_with_every_optional_field_cut_at_any_byte_is_truncated()
    {
        var file = MemberWithAllHeaderFields(Text(3, 26));
        var header = 10 + 5 + "profiles.csv\0"u8.Length + "exported by a test\0"u8.Length + 2;
        for (var cut = 1; cut <= header; cut++)
            Assert.That(Failure(file[..cut]), Does.StartWith($"{Path}: truncated gzip stream after {cut} bytes: the file ends inside gzip member 1 (which starts at byte 0)."), $"cut at {cut}");
    }

    [Test]
    public void A_trailer_wrong_in_both_crc_and_length_before_another_member_is_corrupt_where_the_last_read_began()
    {
        // Big enough that the deflater reads the first member in several pieces, and the file goes on well past the last.
        var first = Member(Text(2_000, 27));
        first[^8] ^= 0x01;
        first[^1] ^= 0x40;
        var file = first.Concat(Member(Text(2_000, 28))).ToArray();
        var failure = Failure(file);
        Assert.That(failure, Does.Match($"^{System.Text.RegularExpressions.Regex.Escape(Path)}: corrupt gzip stream at byte \\d+: the 8-byte trailer \\(CRC-32 and length\\) of member 1 does not match its data\\.$"));
        var at = long.Parse(failure.Split(' ')[6].TrimEnd(':'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(at, Is.InRange(10, first.Length - 8), "the byte is where the deflater's last read of member 1 began");
    }

    [Test]
    public void A_bad_crc_and_a_bad_length_give_the_values_found_and_expected()
    {
        var data = Text(20, 28);
        var crc = Crc32.HashToUInt32(data);
        var badCrc = Member(data);
        BinaryPrimitives.WriteUInt32LittleEndian(badCrc.AsSpan(badCrc.Length - 8), 0xDEADBEEF);
        var badLength = Member(data);
        BinaryPrimitives.WriteUInt32LittleEndian(badLength.AsSpan(badLength.Length - 4), 12345);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Failure(badCrc), Is.EqualTo($"{Path}: corrupt gzip stream at byte {badCrc.Length - 8}: the CRC-32 of member 1 is 0x{crc:X8}, but its trailer says 0xDEADBEEF."));
            Assert.That(Failure(badLength), Is.EqualTo($"{Path}: corrupt gzip stream at byte {badLength.Length - 4}: member 1 decompressed to {data.Length} bytes, but its trailer says 12345 (ISIZE)."));
        }
    }

    [Test]
    public void A_second_member_that_does_not_start_with_the_signature_names_the_byte_after_the_first()
    {
        var first = Member(Text(10, 29));
        Assert.That(Failure(first.Concat(new byte[] { 0x1F, 0x00, 8, 0 }).ToArray()),
            Is.EqualTo($"{Path}: corrupt gzip stream at byte {first.Length}: what follows gzip member 1 is not another gzip member (extra bytes after the end of the compressed data)."));
    }

    [Test]
    public async Task Reads_asynchronously_and_honours_cancellation()
    {
        var data = Text(2_000, 30);
        await using var stream = new GzipSourceStream(new MemoryStream(Member(data)), Path);
        using var output = new MemoryStream();
        await stream.CopyToAsync(output);
        Assert.That(output.ToArray(), Is.EqualTo(data));

        var buffer = new byte[10];
        Assert.That(await stream.ReadAsync(buffer.AsMemory()), Is.Zero, "the end stays the end");
#pragma warning disable CA1835 // the array overload is the one under test here
        Assert.That(await stream.ReadAsync(buffer, 0, buffer.Length, CancellationToken.None), Is.Zero);
#pragma warning restore CA1835
        Assert.That(stream.Read(buffer, 0, buffer.Length), Is.Zero);
        await Assert.ThatAsync(async () => _ = await stream.ReadAsync(buffer.AsMemory(), new CancellationToken(canceled: true)), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void An_empty_read_returns_nothing_and_reads_nothing()
    {
        var data = Text(10, 31);
        using var stream = new GzipSourceStream(new MemoryStream(Member(data)), Path);
        Assert.That(stream.Read(Span<byte>.Empty), Is.Zero);
        using var output = new MemoryStream();
        stream.CopyTo(output);
        Assert.That(output.ToArray(), Is.EqualTo(data));
    }

    [Test]
    public void Is_a_forward_only_read_only_stream_that_closes_its_file()
    {
        var file = new MemoryStream(Member(Text(10, 32)));
        var stream = new GzipSourceStream(file, Path);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(stream.CanRead, Is.True);
            Assert.That(stream.CanSeek, Is.False);
            Assert.That(stream.CanWrite, Is.False);
            Assert.Throws<NotSupportedException>(() => _ = stream.Length);
            Assert.Throws<NotSupportedException>(() => _ = stream.Position);
            Assert.Throws<NotSupportedException>(() => stream.Position = 0);
            Assert.Throws<NotSupportedException>(() => stream.Seek(0, SeekOrigin.Begin));
            Assert.Throws<NotSupportedException>(() => stream.SetLength(0));
            Assert.Throws<NotSupportedException>(() => stream.Write([1], 0, 1));
        }
        stream.Dispose();
        Assert.That(file.CanRead, Is.False, "disposing the gzip stream closes the file");
    }

    [Test]
    public void An_empty_file_says_it_is_empty()
    {
        Assert.That(Failure([]), Is.EqualTo($"{Path}: truncated gzip stream after 0 bytes (the file is empty)."));
    }

    [Test]
    public void Header_fields_longer_than_the_read_buffer_are_skipped_whole()
    {
        // A 65,535-byte extra field and a 70,000-byte name: both cross the 64 KiB input buffer.
        var data = Text(50, 33);
        using var buffer = new MemoryStream();
        buffer.Write([0x1F, 0x8B, 8, 0x04 | 0x08, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF]);
        buffer.Write(Enumerable.Repeat((byte)'e', 65_535).ToArray());
        buffer.Write(Enumerable.Repeat((byte)'n', 70_000).ToArray());
        buffer.WriteByte(0);
        using (var deflate = new DeflateStream(buffer, CompressionLevel.Optimal, leaveOpen: true)) deflate.Write(data);
        Span<byte> trailer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32.HashToUInt32(data));
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], (uint)data.Length);
        buffer.Write(trailer);
        var file = buffer.ToArray().Concat(Member(Text(5, 34))).ToArray();

        Assert.That(Decompress(file), Is.EqualTo(data.Concat(Text(5, 34)).ToArray()));
    }
}
