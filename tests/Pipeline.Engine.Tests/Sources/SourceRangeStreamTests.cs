using Parquet;
using Parquet.Schema;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

/// <summary>
/// The seekable stream Parquet.Net reads through, over a store's ranged reads: it returns the file's bytes wherever it
/// is read, fetches the footer with the tail in one read, and a Parquet export through it fetches the column chunks it
/// uses, not the file.
/// </summary>
public class SourceRangeStreamTests
{
    [Test]
    public async Task Reads_anywhere_return_the_files_bytes()
    {
        var content = Bytes(1_500_000, 1);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", content.Length);
        var random = new Random(2);

        for (var i = 0; i < 300; i++)
        {
            var offset = random.Next(content.Length + 10);
            var length = random.Next(4) == 0 ? random.Next(600_000) : random.Next(5_000);
            stream.Position = offset;
            var buffer = new byte[length];
            var read = i % 2 == 0 ? await stream.ReadAsync(buffer) : stream.Read(buffer, 0, length);

            var expected = Math.Max(0, Math.Min(length, content.Length - offset));
            Assert.That(read, Is.EqualTo(expected), $"read {i}: {length} bytes at {offset}");
            Assert.That(buffer.AsSpan(0, read).SequenceEqual(content.AsSpan(Math.Min(offset, content.Length), read)), Is.True, $"read {i}");
        }
    }

    [Test]
    public async Task The_head_the_tail_and_a_footer_before_it_take_two_ranged_reads_and_reading_them_again_none()
    {
        var content = Bytes(3_000_000, 3);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", content.Length);

        for (var pass = 0; pass < 2; pass++)
        {
            await stream.ReadExactlyAsync(new byte[4]);
            stream.Seek(-8, SeekOrigin.End);
            await stream.ReadExactlyAsync(new byte[8]);
            stream.Seek(-8 - 100_000, SeekOrigin.End);
            await stream.ReadExactlyAsync(new byte[100_000]);
        }

        Assert.That(store.Reads, Has.Count.EqualTo(2));
        Assert.That(store.Bytes, Is.EqualTo(2L * SourceRangeStream.WindowSize));
    }

    [Test]
    public async Task A_read_of_a_window_or_more_goes_to_the_store_in_one_piece()
    {
        var content = Bytes(2_000_000, 4);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", content.Length);
        stream.Position = 500_000;

        var buffer = new byte[1_000_000];
        await stream.ReadExactlyAsync(buffer);

        Assert.That(store.Reads, Is.EqualTo(new[] { (500_000L, 1_000_000) }));
        Assert.That(buffer, Is.EqualTo(content.AsSpan(500_000, 1_000_000).ToArray()));
    }

    [Test]
    public async Task A_file_shorter_than_listed_reads_short_instead_of_inventing_bytes()
    {
        var content = Bytes(1000, 5);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", 5000);

        stream.Position = 900;
        var read = await stream.ReadAtLeastAsync(new byte[500], 500, throwOnEndOfStream: false);

        Assert.That(read, Is.EqualTo(100));
    }

    [Test]
    public async Task A_parquet_export_through_a_store_reads_the_footer_and_the_column_chunks_it_uses_not_the_file()
    {
        var parquet = await WideParquetAsync(groups: 4, rows: 2_000);
        var store = new MemorySourceStore { ["mem://snapshot/profiles.parquet"] = parquet };
        var file = new SourceFile("mem://snapshot/profiles.parquet", parquet.Length, SourceFormat.Parquet, Gzip: false);
        var spec = new ExportSpec
        {
            ActivationId = "vip",
            Source = new SourceSpec { Path = file.Path },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "id")],
            Output = new FormatSpec { Compression = OutputCompression.None },
            Destination = new DestinationSpec { Name = "out", Type = "local", Location = "/unused" },
        };

        using var reader = await SourceReaders.OpenAsync(store, file, spec, CancellationToken.None);
        var binding = ColumnBinding.Create(reader.Columns, spec, file.Path);
        var selection = new RowSelection("S1", ';', null, null, incremental: false);
        using var rows = new DelimitedRowWriter(spec.Output);
        var writer = new ChunkWriter(rows, selection, binding, MalformedRowPolicy.Fail, file.Path);
        using var output = new MemoryStream();
        rows.Reset(output);
        await foreach (var chunk in reader.ReadChunksAsync(_ => false, CancellationToken.None))
        {
            using (chunk)
            {
                await chunk.LoadAsync(binding, CancellationToken.None);
                chunk.Write(writer);
            }
        }
        rows.Flush();

        var lines = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(8_000 / 2), "every other profile is in S1");
        Assert.That(store.Streams, Is.Zero, "Parquet is never streamed whole");
        Assert.That(store.Bytes, Is.LessThan(parquet.Length / 4), $"{store.Bytes} of {parquet.Length} bytes read in {store.Reads.Count} reads");
        // The 4-byte head, the tail window with the footer, then two column chunks (profileId, segments) per row group.
        Assert.That(store.Reads, Has.Count.EqualTo(2 + 2 * 4), string.Join(" ", store.Reads));
    }

    [Test]
    public async Task A_read_of_exactly_a_window_goes_to_the_store_and_a_byte_less_fills_a_window()
    {
        var content = Bytes(2_000_000, 6);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", content.Length);

        stream.Position = 100;
        var whole = new byte[SourceRangeStream.WindowSize];
        await stream.ReadExactlyAsync(whole);
        stream.Position = 1_000_000;
        var less = new byte[SourceRangeStream.WindowSize - 1];
        await stream.ReadExactlyAsync(less);

        Assert.That(store.Reads, Is.EqualTo(new[] { (100L, SourceRangeStream.WindowSize), (1_000_000L, SourceRangeStream.WindowSize) }));
        Assert.That(whole, Is.EqualTo(content.AsSpan(100, whole.Length).ToArray()));
        Assert.That(less, Is.EqualTo(content.AsSpan(1_000_000, less.Length).ToArray()));
    }

    [Test]
    public async Task The_two_windows_keep_the_two_regions_used_last()
    {
        var content = Bytes(3_000_000, 7);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", content.Length);
        async Task<byte> At(long position)
        {
            stream.Position = position;
            var one = new byte[1];
            await stream.ReadExactlyAsync(one);
            return one[0];
        }

        Assert.That(await At(0), Is.EqualTo(content[0]));
        Assert.That(await At(1_000_000), Is.EqualTo(content[1_000_000]));
        Assert.That(await At(10), Is.EqualTo(content[10]));
        Assert.That(store.Reads, Has.Count.EqualTo(2), "both regions are still in a window");
        Assert.That(await At(2_000_000), Is.EqualTo(content[2_000_000]));
        Assert.That(await At(20), Is.EqualTo(content[20]));
        Assert.That(store.Reads, Has.Count.EqualTo(3), "the new region replaced the one used longest ago, not the start");
        Assert.That(await At(1_000_000), Is.EqualTo(content[1_000_000]));
        Assert.That(store.Reads, Has.Count.EqualTo(4));
    }

    [Test]
    public async Task A_file_smaller_than_a_window_is_fetched_once_whole()
    {
        var content = Bytes(1_000, 8);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", content.Length);

        stream.Position = 500;
        var tail = new byte[500];
        await stream.ReadExactlyAsync(tail);
        stream.Position = 0;
        var head = new byte[500];
        await stream.ReadExactlyAsync(head);

        Assert.That(store.Reads, Is.EqualTo(new[] { (0L, 1_000) }));
        Assert.That(head.Concat(tail), Is.EqualTo(content));
    }

    [Test]
    public async Task A_big_read_of_a_file_shorter_than_listed_reads_short()
    {
        var content = Bytes(600_000, 9);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", 2_000_000);

        stream.Position = 100_000;
        var buffer = new byte[1_000_000];
        var read = await stream.ReadAsync(buffer);

        Assert.That(read, Is.EqualTo(500_000));
        Assert.That(stream.Position, Is.EqualTo(600_000));
        Assert.That(store.Reads, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Preloaded_bytes_are_read_without_a_request()
    {
        var content = Bytes(1_000_000, 10);
        var store = new MemorySourceStore { ["f"] = content };
        await using var stream = new SourceRangeStream(store, "f", content.Length);
        stream.Preload(0, content.AsSpan(0, 4));

        var head = new byte[4];
        await stream.ReadExactlyAsync(head);

        Assert.That(head, Is.EqualTo(content[..4]));
        Assert.That(store.Reads, Is.Empty);
        Assert.That(() => stream.Preload(0, new byte[SourceRangeStream.WindowSize + 1]), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => stream.Preload(0, new byte[SourceRangeStream.WindowSize]), Throws.Nothing);
    }

    [Test]
    public void Seeks_from_the_start_the_current_position_and_the_end()
    {
        var store = new MemorySourceStore { ["f"] = Bytes(100, 11) };
        using var stream = new SourceRangeStream(store, "f", 100);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(stream.Seek(30, SeekOrigin.Begin), Is.EqualTo(30));
            Assert.That(stream.Seek(5, SeekOrigin.Current), Is.EqualTo(35));
            Assert.That(stream.Seek(-10, SeekOrigin.End), Is.EqualTo(90));
            Assert.That(stream.Position, Is.EqualTo(90));
            Assert.That(stream.Length, Is.EqualTo(100));
            Assert.That(() => stream.Seek(0, (SeekOrigin)7), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => stream.Position = -1, Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => stream.Position = 0, Throws.Nothing);
            Assert.That(stream.CanRead, Is.True);
            Assert.That(stream.CanSeek, Is.True);
            Assert.That(stream.CanWrite, Is.False);
            Assert.That(() => stream.SetLength(0), Throws.InstanceOf<NotSupportedException>());
            Assert.That(() => stream.Write([1], 0, 1), Throws.InstanceOf<NotSupportedException>());
        }
    }

    [Test]
    public void Reads_synchronously_into_a_span()
    {
        var content = Bytes(10_000, 12);
        var store = new MemorySourceStore { ["f"] = content };
        using var stream = new SourceRangeStream(store, "f", content.Length);
        stream.Position = 9_000;
        var buffer = new byte[2_000];

        var read = stream.Read(buffer.AsSpan());

        Assert.That(read, Is.EqualTo(1_000));
        Assert.That(buffer[..1_000], Is.EqualTo(content[9_000..]));
        Assert.That(buffer[1_000..], Is.All.Zero);
    }

    [Test]
    public void A_disposed_stream_cannot_be_read()
    {
        var store = new MemorySourceStore { ["f"] = Bytes(100, 13) };
        var stream = new SourceRangeStream(store, "f", 100);
        stream.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(stream.CanRead, Is.False);
            Assert.That(stream.CanSeek, Is.False);
            Assert.That(() => stream.ReadAsync(new byte[1].AsMemory()).AsTask(), Throws.InstanceOf<ObjectDisposedException>());
        }
    }

    /// <summary>profileId and segments, and a wide random column no export here reads: most of the file's bytes.</summary>
    private static async Task<byte[]> WideParquetAsync(int groups, int rows)
    {
        var id = new DataField<string>("profileId");
        var segments = new DataField<string>("segments");
        var padding = new DataField<string>("padding");
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, segments, padding), buffer))
        {
            for (var g = 0; g < groups; g++)
            {
                using var group = writer.CreateRowGroup();
                var range = Enumerable.Range(g * rows, rows).ToArray();
                await group.WriteAsync(id, range.Select(i => $"p{i}").ToArray());
                await group.WriteAsync(segments, range.Select(i => i % 2 == 0 ? "S1;S2" : "S2").ToArray());
                await group.WriteAsync(padding, range.Select(i => Convert.ToBase64String(Bytes(600, i))).ToArray());
            }
        }
        return buffer.ToArray();
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Files in memory, counting every read.</summary>
    private sealed class MemorySourceStore : ISourceStore
    {
        private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);

        public byte[] this[string location] { set => _files[location] = value; }

        public List<(long Offset, int Length)> Reads { get; } = [];
        public long Bytes { get; private set; }
        public int Streams { get; private set; }

        public bool Accepts(string location) => _files.ContainsKey(location);

        public Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<SourceEntry>>([new SourceEntry(location, _files[location].Length)]);

        public Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken)
        {
            Streams++;
            return Task.FromResult<Stream>(new MemoryStream(_files[location], writable: false));
        }

        public ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var file = _files[location];
            var n = (int)Math.Max(0, Math.Min(buffer.Length, file.Length - offset));
            if (n > 0) file.AsSpan((int)offset, n).CopyTo(buffer.Span);
            lock (Reads) Reads.Add((offset, buffer.Length));
            Bytes += n;
            return ValueTask.FromResult(n);
        }
    }
}
