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
}
