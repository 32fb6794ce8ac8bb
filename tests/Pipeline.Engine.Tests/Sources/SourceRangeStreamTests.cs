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

        public Task<Stream> OpenReadAsync(string location, CancellationToken cancellationToken)
        {
            Streams++;
            return Task.FromResult<Stream>(new MemoryStream(_files[location], writable: false));
        }

        public ValueTask<int> ReadAsync(string location, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
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
