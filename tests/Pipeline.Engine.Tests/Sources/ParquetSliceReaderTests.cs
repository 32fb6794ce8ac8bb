using System.Text;
using Parquet;
using Parquet.Schema;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

/// <summary>
/// ParquetSliceReader / ParquetChunk: the fast path (UTF-8 byte ranges read straight from the column chunks)
/// must write exactly what the data says, for every codec and encoding writers use, and fall back to
/// Parquet.Net for anything it does not cover.
/// </summary>
public class ParquetSliceReaderTests
{
    private sealed record Profile(string? Id, string? Email, string? City, string?[]? Segments);

    private static readonly Profile[] Profiles =
    [
        new("p1", "a@example.com", "Berlin", ["S1"]),
        new("p2", "b@example.com", "Kraków", ["S2", "S10"]),            // S10 is not S1
        new("p3", null, "Berlin", [" S1 ", "S3"]),                       // null email, spaces around the id
        new("p4", "with \"quote\", comma", "München", ["S3", "S1"]),    // quoting, non-ASCII
        new("p5", "e@example.com", null, null),                          // null list
        new("p6", "f@example.com", "Oslo", []),                          // empty list
        new("p7", "g@example.com", "Oslo", [null, "S1"]),                // a null element
        new(null, "h@example.com", "Oslo", ["S1"]),                      // no id: malformed
        new("", "i@example.com", "Oslo", ["S1"]),                        // empty id: malformed
        new("p10", "", "", ["S1"]),                                      // empty values stay empty
    ];

    private static readonly string Expected =
        "p1,a@example.com,Berlin\n" +
        "p3,,Berlin\n" +
        "p4,\"with \"\"quote\"\", comma\",München\n" +
        "p7,g@example.com,Oslo\n" +
        "p10,,\n";

    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "parquet-tests-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [TestCase(CompressionMethod.Zstd, false)]
    [TestCase(CompressionMethod.Zstd, true)]
    [TestCase(CompressionMethod.Snappy, false)]
    [TestCase(CompressionMethod.Gzip, true)]
    [TestCase(CompressionMethod.None, false)]
    [TestCase(CompressionMethod.None, true)]
    public async Task String_columns_and_a_segment_list_are_read_as_utf8_bytes(CompressionMethod compression, bool dictionary)
    {
        var path = await WriteAsync(compression, dictionary, groups: 2);

        var (text, fast, counts) = await ExportAsync(path, "profileId", "email", "city");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Is.EqualTo(Expected + Expected));
            Assert.That(fast, Is.All.True, "every row group takes the fast path");
            Assert.That(counts, Is.EqualTo((RowsRead: 2L * Profiles.Length, RowsWritten: 10L, RowsSkipped: 4L)));
        }
    }

    [Test]
    public async Task Segments_as_a_separated_string_column_are_matched_like_csv()
    {
        var path = Path.Combine(_dir, "flat.parquet");
        var id = new DataField<string>("profileId");
        var segments = new DataField<string>("segments", nullable: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, segments), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a", "b", "c", "d", "e" });
            await group.WriteAsync(segments, new[] { "S1;S2", "S10", null, "S2; S1", "" });
        }

        var (text, fast, _) = await ExportAsync(path, "profileId");

        Assert.That((text, fast), Is.EqualTo(("a\nd\n", new[] { true })).Using<(string, bool[])>((x, y) => x.Item1 == y.Item1 && x.Item2.SequenceEqual(y.Item2)));
    }

    [Test]
    public async Task A_column_that_is_not_a_string_falls_back_to_the_general_reader_with_the_same_output()
    {
        var path = Path.Combine(_dir, "typed.parquet");
        var id = new DataField<string>("profileId");
        var score = new DataField<int>("score");
        var segments = new DataField<string>("segments");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, score, segments), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a", "b" });
            await group.WriteAsync<int>(score, new[] { 7, -3 }.AsMemory());
            await group.WriteAsync(segments, new[] { "S1", "S1" });
        }

        var (text, fast, _) = await ExportAsync(path, "profileId", "score");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Is.EqualTo("a,7\nb,-3\n"));
            Assert.That(fast, Is.All.False);
        }
    }

    [Test]
    public async Task A_parquet_file_cut_short_is_named_as_truncated()
    {
        var path = await WriteAsync(CompressionMethod.Zstd, dictionary: false, groups: 2);
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);

        var e = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId")))!;
        Assert.That(e.Message, Does.StartWith($"{path}: truncated Parquet file: it does not end with the Parquet marker PAR1 after {bytes.Length / 2} bytes"));
    }

    [Test]
    public async Task A_file_that_is_not_parquet_says_so()
    {
        var path = Path.Combine(_dir, "profiles.parquet");
        await File.WriteAllTextAsync(path, "profileId,segments\np1,S1\n");

        var e = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId")))!;
        Assert.That(e.Message, Does.StartWith($"{path} is not a Parquet file: it does not start with the Parquet marker PAR1"));
    }

    [TestCase(CompressionMethod.Zstd, false)]
    [TestCase(CompressionMethod.Snappy, true)]
    [TestCase(CompressionMethod.Gzip, false)]
    public async Task Damaged_column_data_fails_with_the_file_and_row_group_not_the_decoders_words(CompressionMethod compression, bool dictionary)
    {
        var path = await WriteAsync(compression, dictionary, groups: 1);
        var bytes = await File.ReadAllBytesAsync(path);
        // The column chunks start after the 4-byte marker; overwrite the first ones' pages.
        bytes.AsSpan(4, 150).Fill(0xA5);
        await File.WriteAllBytesAsync(path, bytes);

        var e = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId", "email", "city")))!;
        Assert.That(e.Message, Does.StartWith($"{path}: row group 0 cannot be read: "));
        Assert.That(e.Message, Does.EndWith("The file is damaged: write it again."));
    }

    [Test]
    public async Task A_nul_in_a_string_value_makes_the_row_malformed_on_both_paths()
    {
        var path = Path.Combine(_dir, "nul.parquet");
        var id = new DataField<string>("profileId");
        var email = new DataField<string>("email");
        var score = new DataField<int>("score");
        var segments = new DataField<string>("segments");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, email, score, segments), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a", "b", "c" });
            await group.WriteAsync(email, new[] { "a@x", "b\0@x", "c@x" });
            await group.WriteAsync<int>(score, new[] { 1, 2, 3 }.AsMemory());
            await group.WriteAsync(segments, new[] { "S1", "S1", "S1" });
        }

        var fast = await ExportAsync(path, "profileId", "email");
        var general = await ExportAsync(path, "profileId", "email", "score");

        using (Assert.EnterMultipleScope())
        {
            Assert.That((fast.Text, fast.Fast.Single(), fast.Counts.RowsSkipped), Is.EqualTo(("a,a@x\nc,c@x\n", true, 1L)));
            Assert.That((general.Text, general.Fast.Single(), general.Counts.RowsSkipped), Is.EqualTo(("a,a@x,1\nc,c@x,3\n", false, 1L)));
        }
    }

    [Test]
    public async Task Bytes_that_are_not_utf8_in_a_string_column_make_the_row_malformed()
    {
        var path = Path.Combine(_dir, "latin1.parquet");
        var id = new DataField<string>("profileId");
        var city = new DataField<string>("city");
        var segments = new DataField<string>("segments");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, city, segments), stream, new ParquetOptions { CompressionMethod = CompressionMethod.None }))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a", "b" });
            await group.WriteAsync(city, new[] { "Berlin", "MQnchen" });
            await group.WriteAsync(segments, new[] { "S1", "S1" });
        }
        // What a writer that took Latin-1 for UTF-8 leaves: 0xFC for ü.
        var bytes = await File.ReadAllBytesAsync(path);
        var patched = 0;
        for (int at; (at = bytes.AsSpan().IndexOf("MQnchen"u8)) >= 0; patched++) bytes[at + 1] = 0xFC; // the value and its statistics
        Assert.That(patched, Is.GreaterThan(0));
        await File.WriteAllBytesAsync(path, bytes);

        var (text, fast, counts) = await ExportAsync(path, "profileId", "city");

        Assert.That((text, fast.Single(), counts.RowsSkipped), Is.EqualTo(("a,Berlin\n", true, 1L)));
    }

    [Test]
    public async Task Typed_columns_are_written_as_invariant_text_by_the_general_reader()
    {
        var path = Path.Combine(_dir, "typed-all.parquet");
        var id = new DataField<string>("profileId");
        var i32 = new DataField<int>("i32");
        var i64 = new DataField<long?>("i64");
        var i16 = new DataField<short>("i16");
        var f64 = new DataField<double>("f64");
        var f32 = new DataField<float?>("f32");
        var dec = new DataField<decimal>("dec");
        var flag = new DataField<bool?>("flag");
        var time = new DataField<DateTime>("time");
        var segments = new DataField<string>("segments", nullable: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, i32, i64, i16, f64, f32, dec, flag, time, segments), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a", "b", "c", "d" });
            await group.WriteAsync<int>(i32, new[] { 7, -1, 5, 0 }.AsMemory());
            await group.WriteAsync<long>(i64, new long?[] { 9_000_000_000, null, 1, -2 }.AsMemory());
            await group.WriteAsync<short>(i16, new short[] { -3, 0, 1, 2 }.AsMemory());
            await group.WriteAsync<double>(f64, new[] { 1.5, -2, 3, 0.125 }.AsMemory());
            await group.WriteAsync<float>(f32, new float?[] { 0.25f, null, 1, 2.5f }.AsMemory());
            await group.WriteAsync<decimal>(dec, new[] { 12.5m, 0m, 1m, -7.25m }.AsMemory());
            await group.WriteAsync<bool>(flag, new bool?[] { true, null, true, false }.AsMemory());
            await group.WriteAsync<DateTime>(time, new[]
            {
                new DateTime(2026, 1, 2, 3, 4, 5, 500, DateTimeKind.Utc), new DateTime(2026, 12, 7, 0, 0, 0, DateTimeKind.Utc),
                new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2026, 6, 30, 23, 59, 59, DateTimeKind.Utc),
            }.AsMemory());
            // c is not a member; d's list is long enough to be encoded outside the stack buffer.
            await group.WriteAsync(segments, new[] { "S1", "S2;S1", "S2", string.Join(";", Enumerable.Repeat("S22", 200)) + ";S1" });
        }

        var (text, fast, counts) = await ExportAsync(path, "profileId", "i32", "i64", "i16", "f64", "f32", "dec", "flag", "time");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Is.EqualTo(
                "a,7,9000000000,-3,1.5,0.25,12.5,true,2026-01-02T03:04:05.5Z\n" +
                "b,-1,,0,-2,,0,,2026-12-07T00:00:00Z\n" +
                "d,0,-2,2,0.125,2.5,-7.25,false,2026-06-30T23:59:59Z\n"));
            Assert.That(fast, Is.All.False);
            Assert.That(counts, Is.EqualTo((RowsRead: 4L, RowsWritten: 3L, RowsSkipped: 0L)));
        }
    }

    [Test]
    public async Task A_flat_segments_column_on_the_general_path_skips_rows_without_segments_and_names_rows_without_an_id()
    {
        var path = Path.Combine(_dir, "flat-general.parquet");
        var id = new DataField<string>("profileId", nullable: true);
        var score = new DataField<int>("score");
        var segments = new DataField<string>("segments", nullable: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, score, segments), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a", null, "c", "d", "", "f" });
            await group.WriteAsync<int>(score, new[] { 1, 2, 3, 4, 5, 6 }.AsMemory());
            await group.WriteAsync(segments, new[] { "S1", "S1", null, "", "S1", "S1 ; S3" });
        }

        var (text, _, counts) = await ExportAsync(path, "profileId", "score");
        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path, MalformedRowPolicy.Fail, null, "profileId", "score")))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Is.EqualTo("a,1\nf,6\n"));
            Assert.That(counts, Is.EqualTo((RowsRead: 6L, RowsWritten: 2L, RowsSkipped: 2L)));
            Assert.That(e.Message, Is.EqualTo($"{path}, line 2: row 2 of row group 0 has no id"));
        }
    }

    [Test]
    public async Task Incremental_exports_keep_rows_updated_inside_the_window_on_the_general_path()
    {
        var path = Path.Combine(_dir, "incremental.parquet");
        var id = new DataField<string>("profileId");
        var segments = new DataField<string>("segments");
        var updatedAt = new DataField<DateTime?>("updatedAt");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, segments, updatedAt), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "old", "after", "upto", "later", "none", "other" });
            await group.WriteAsync(segments, new[] { "S1", "S1", "S1", "S1", "S1", "S2" });
            await group.WriteAsync<DateTime>(updatedAt, new DateTime?[]
            {
                Utc(2026, 1, 1), Utc(2026, 1, 1).AddTicks(10), Utc(2026, 2, 1), Utc(2026, 2, 1).AddSeconds(1), null, Utc(2026, 1, 15),
            }.AsMemory());
        }
        var window = (After: new DateTimeOffset(Utc(2026, 1, 1)), UpTo: new DateTimeOffset(Utc(2026, 2, 1)));

        var (text, fast, counts) = await ExportAsync(path, MalformedRowPolicy.Skip, window, "profileId", "updatedAt");
        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path, MalformedRowPolicy.Fail, window, "profileId")))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Is.EqualTo("after,2026-01-01T00:00:00.000001Z\nupto,2026-02-01T00:00:00Z\n"));
            Assert.That(fast, Is.All.False, "incremental exports take the general path");
            Assert.That(counts, Is.EqualTo((RowsRead: 6L, RowsWritten: 2L, RowsSkipped: 1L)));
            Assert.That(e.Message, Is.EqualTo($"{path}, line 5: row 5 of row group 0 has no updatedAt"));
        }
    }

    [Test]
    public async Task Incremental_exports_read_a_text_updated_at_and_name_one_that_is_not_a_timestamp()
    {
        var path = Path.Combine(_dir, "incremental-text.parquet");
        var id = new DataField<string>("profileId");
        var segments = new DataField<string>("segments");
        var updatedAt = new DataField<string>("updatedAt", nullable: true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, segments, updatedAt), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "old", "in", "bad", "none" });
            await group.WriteAsync(segments, new[] { "S1", "S1", "S1", "S1" });
            await group.WriteAsync(updatedAt, new[] { "2025-12-31T00:00:00Z", "2026-01-10T00:00:00Z", "yesterday", null });
        }
        var window = (After: new DateTimeOffset(Utc(2026, 1, 1)), UpTo: new DateTimeOffset(Utc(2026, 2, 1)));

        var (text, _, counts) = await ExportAsync(path, MalformedRowPolicy.Skip, window, "profileId");
        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path, MalformedRowPolicy.Fail, window, "profileId")))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Is.EqualTo("in\n"));
            Assert.That(counts, Is.EqualTo((RowsRead: 4L, RowsWritten: 1L, RowsSkipped: 2L)));
            Assert.That(e.Message, Is.EqualTo($"{path}, line 3: row 3 of row group 0: updatedAt is not an ISO 8601 timestamp"));
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_segment_list_read_by_the_general_path_matches_like_the_fast_path(bool dictionary)
    {
        var path = await WriteAsync(CompressionMethod.Snappy, dictionary, groups: 2, withUpdatedAt: true);
        var window = (After: new DateTimeOffset(Utc(2000, 1, 1)), UpTo: new DateTimeOffset(Utc(2100, 1, 1)));

        var (text, fast, counts) = await ExportAsync(path, MalformedRowPolicy.Skip, window, "profileId", "email", "city");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(text, Is.EqualTo(Expected + Expected));
            Assert.That(fast, Is.EqualTo(new[] { false, false }));
            Assert.That(counts, Is.EqualTo((RowsRead: 2L * Profiles.Length, RowsWritten: 10L, RowsSkipped: 4L)));
        }
    }

    [Test]
    public async Task A_list_or_binary_column_cannot_be_exported_and_says_why()
    {
        var path = Path.Combine(_dir, "unsupported.parquet");
        var id = new DataField<string>("profileId");
        var blob = new DataField<byte[]>("blob");
        var segments = new DataField<string>("segments");
        var tag = new DataField<string>("tag");
        var tags = new ListField("tags", tag);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, blob, segments, tags), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a" });
            await group.WriteAsync(blob, new[] { new byte[] { 1, 2 } });
            await group.WriteAsync(segments, new[] { "S1" });
            await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(tag, new[] { "x".AsMemory() }, new[] { 1 }, new[] { 0 }, CancellationToken.None);
        }

        var binary = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId", "blob")))!;
        var list = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId", "tags")))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(binary.Message, Is.EqualTo($"{path}: column \"blob\" has type ReadOnlyMemory`1, which cannot be exported as text."));
            Assert.That(list.Message, Is.EqualTo($"{path}: column \"tags\" is a List; only plain columns (and a list of strings for segments) can be exported."));
        }
    }

    [Test]
    public async Task A_footer_longer_than_the_file_is_corrupt()
    {
        var path = await WriteAsync(CompressionMethod.None, dictionary: false, groups: 1);
        var bytes = await File.ReadAllBytesAsync(path);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 8), (uint)bytes.Length - 11);
        await File.WriteAllBytesAsync(path, bytes);

        var e = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId")))!;

        Assert.That(e.Message, Is.EqualTo($"{path}: corrupt Parquet file: its footer claims {bytes.Length - 11} bytes, more than the {bytes.Length}-byte file holds: write it again."));
    }

    [Test]
    public async Task A_footer_that_fits_but_is_not_a_footer_is_damage_named_as_such()
    {
        var path = await WriteAsync(CompressionMethod.None, dictionary: false, groups: 1);
        var bytes = await File.ReadAllBytesAsync(path);
        var footer = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 8));
        bytes.AsSpan(bytes.Length - 8 - footer, footer).Fill(0xEE);
        await File.WriteAllBytesAsync(path, bytes);

        var e = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId")))!;

        Assert.That(e.Message, Does.StartWith($"{path}: the Parquet footer (schema and row group index) cannot be read ("));
        Assert.That(e.Message, Does.EndWith("); the file is damaged: write it again."));
        Assert.That(e.InnerException, Is.Not.Null);
    }

    [TestCase(2)]
    [TestCase(11)]
    public async Task A_file_too_short_for_both_markers_is_named(int length)
    {
        var path = Path.Combine(_dir, "short.parquet");
        await File.WriteAllBytesAsync(path, "PAR1PAR1PAR1"u8[..length].ToArray());

        var e = (await Assert.ThrowsAsync<SourceException>(() => ExportAsync(path, "profileId")))!;

        Assert.That(e.Message, Is.EqualTo(length < 4
            ? $"{path} is not a Parquet file: it does not start with the Parquet marker PAR1 ({length} bytes). Check the file, or set \"format\" on the source."
            : $"{path}: truncated Parquet file: it does not end with the Parquet marker PAR1 after {length} bytes, so its footer is missing. The file was cut short, for example by an interrupted copy or upload: write it again."));
    }

    [Test]
    public async Task Skipped_row_groups_are_not_read_and_the_others_keep_their_numbers()
    {
        var path = await WriteAsync(CompressionMethod.Snappy, dictionary: true, groups: 3);
        var file = SourceCatalog.Describe(path, SourceFormat.Auto);
        using var reader = await ParquetSliceReader.OpenAsync(file, CancellationToken.None);
        var asked = new List<int>();
        var seqs = new List<int>();

        await foreach (var chunk in reader.ReadChunksAsync(g => { asked.Add(g); return g == 1; }, CancellationToken.None))
            using (chunk) seqs.Add(chunk.Seq);

        Assert.That((asked, seqs), Is.EqualTo((new List<int> { 0, 1, 2 }, new List<int> { 0, 2 })));
        Assert.That(reader.Columns, Is.EqualTo(new[] { "profileId", "email", "city", "segments" }));
        Assert.That(async () => { await foreach (var chunk in reader.ReadChunksAsync(_ => false, new CancellationToken(canceled: true))) chunk.Dispose(); },
            Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task A_nul_in_a_segment_list_element_makes_the_row_malformed_naming_the_column()
    {
        var path = Path.Combine(_dir, "segments-nul.parquet");
        var id = new DataField<string>("profileId");
        var element = new DataField<string>("element", nullable: true);
        var segments = new ListField("segments", element);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, segments), stream, new ParquetOptions { CompressionMethod = CompressionMethod.None }))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "a", "b", "c" });
            await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(element, new[] { "S1".AsMemory(), "S2".AsMemory(), "S\01".AsMemory(), "S1".AsMemory() },
                new[] { 3, 3, 3, 3 }, new[] { 0, 0, 1, 0 }, CancellationToken.None);
        }

        var (text, fast, counts) = await ExportAsync(path, "profileId");
        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path, MalformedRowPolicy.Fail, null, "profileId")))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That((text, fast.Single(), counts.RowsSkipped), Is.EqualTo(("a\nc\n", true, 1L)));
            Assert.That(e.Message, Is.EqualTo($"{path}, line 2: row 2 of row group 0: column \"segments\": byte 2 of the value is a NUL (0x00)"));
        }
    }

    [Test]
    public async Task An_updated_at_in_the_first_column_still_takes_the_general_path_that_checks_the_window()
    {
        var path = Path.Combine(_dir, "updated-first.parquet");
        var updatedAt = new DataField<string>("updatedAt");
        var id = new DataField<string>("profileId");
        var segments = new DataField<string>("segments");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(updatedAt, id, segments), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(updatedAt, new[] { "2025-06-01T00:00:00Z", "2026-01-10T00:00:00Z" });
            await group.WriteAsync(id, new[] { "old", "new" });
            await group.WriteAsync(segments, new[] { "S1", "S1" });
        }

        var (text, fast, _) = await ExportAsync(path, MalformedRowPolicy.Fail, (new DateTimeOffset(Utc(2026, 1, 1)), new DateTimeOffset(Utc(2026, 2, 1))), "profileId");

        Assert.That((text, fast.Single()), Is.EqualTo(("new\n", false)));
    }

    private static DateTime Utc(int year, int month, int day) => new(year, month, day, 0, 0, 0, DateTimeKind.Utc);

    private async Task<string> WriteAsync(CompressionMethod compression, bool dictionary, int groups, bool withUpdatedAt = false)
    {
        var path = Path.Combine(_dir, $"profiles-{compression}-{dictionary}-{withUpdatedAt}.parquet");
        var id = new DataField<string>("profileId", nullable: true);
        var email = new DataField<string>("email", nullable: true);
        var city = new DataField<string>("city", nullable: true);
        var element = new DataField<string>("element", nullable: true);
        var segments = new ListField("segments", element);
        var options = new ParquetOptions { CompressionMethod = compression };
        if (dictionary)
        {
            options.ColumnEncodingHints["city"] = EncodingHint.Dictionary;
            options.ColumnEncodingHints[element.Path.ToString()] = EncodingHint.Dictionary;
        }
        await using var stream = File.Create(path);
        var updatedAt = new DataField<DateTime>("updatedAt");
        var schema = withUpdatedAt ? new ParquetSchema(id, email, city, segments, updatedAt) : new ParquetSchema(id, email, city, segments);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, options);
        for (var g = 0; g < groups; g++)
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, Profiles.Select(p => p.Id).ToArray());
            await group.WriteAsync(email, Profiles.Select(p => p.Email).ToArray());
            await group.WriteAsync(city, Profiles.Select(p => p.City).ToArray());
            var values = new List<ReadOnlyMemory<char>>();
            var definitions = new List<int>();
            var repetitions = new List<int>();
            foreach (var p in Profiles)
            {
                // 0 = null list, 1 = empty list, 2 = null element, 3 = element.
                if (p.Segments is null || p.Segments.Length == 0) { definitions.Add(p.Segments is null ? 0 : 1); repetitions.Add(0); continue; }
                for (var k = 0; k < p.Segments.Length; k++)
                {
                    if (p.Segments[k] is { } s) values.Add(s.AsMemory());
                    definitions.Add(p.Segments[k] is null ? 2 : 3);
                    repetitions.Add(k == 0 ? 0 : 1);
                }
            }
            await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(element, values.ToArray(), definitions.ToArray(), repetitions.ToArray(), CancellationToken.None);
            if (withUpdatedAt) await group.WriteAsync<DateTime>(updatedAt, Profiles.Select(_ => new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)).ToArray().AsMemory());
            group.CompleteValidate();
        }
        return path;
    }

    private static Task<(string Text, bool[] Fast, (long RowsRead, long RowsWritten, long RowsSkipped) Counts)> ExportAsync(string path, params string[] fields) =>
        ExportAsync(path, MalformedRowPolicy.Skip, null, fields);

    /// <summary>Members of S1, as the given fields; incremental when a window is given.</summary>
    private static async Task<(string Text, bool[] Fast, (long RowsRead, long RowsWritten, long RowsSkipped) Counts)> ExportAsync(
        string path, MalformedRowPolicy policy, (DateTimeOffset After, DateTimeOffset UpTo)? window, params string[] fields)
    {
        var spec = new ExportSpec
        {
            ActivationId = "vip",
            Source = new SourceSpec { Path = path },
            SegmentId = "S1",
            Fields = fields.Select(f => new OutputField(f, f)).ToList(),
            Output = new FormatSpec { Compression = OutputCompression.None },
            Destination = new DestinationSpec { Name = "out", Type = "local", Location = "/unused" },
            OnMalformedRow = policy,
            Mode = window is null ? ExportMode.Full : ExportMode.Incremental,
        };
        var file = SourceCatalog.Describe(path, SourceFormat.Auto);
        using var reader = await SourceReaders.OpenAsync(file, spec, CancellationToken.None);
        var binding = ColumnBinding.Create(reader.Columns, spec, path);
        using var rows = new DelimitedRowWriter(spec.Output);
        var writer = new ChunkWriter(rows, new RowSelection("S1", ';', window?.After, window?.UpTo, window is not null), binding, policy, path);
        var buffer = new MemoryStream();
        rows.Reset(buffer);
        var fast = new List<bool>();
        await foreach (var chunk in reader.ReadChunksAsync(_ => false, CancellationToken.None))
        {
            using (chunk)
            {
                await chunk.LoadAsync(binding, CancellationToken.None);
                fast.Add(((ParquetChunk)chunk).ReadAsUtf8);
                chunk.Write(writer);
            }
        }
        rows.Flush();
        var counts = writer.TakeCounts();
        return (Encoding.UTF8.GetString(buffer.ToArray()), fast.ToArray(), (counts.RowsRead, counts.RowsWritten, counts.RowsSkipped));
    }
}
