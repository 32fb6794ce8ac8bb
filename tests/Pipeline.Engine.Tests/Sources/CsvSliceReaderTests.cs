using System.IO.Compression;
using System.Text;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class CsvSliceReaderTests
{
    private const string Header = "profileId,email,note,segments\n";

    /// <summary>Smaller than most records here, so every boundary matters.</summary>
    private const long TinyChunkSize = 64;

    /// <summary>The smallest chunk size pipeline.json accepts ($.tuning.chunkSize); for the multi-megabyte files.</summary>
    private const long SmallestChunkSize = 64 * 1024;

    /// <summary>About 3.6 MB of <see cref="MultiLineRecords"/>: more than the reader buffers at once, so always several chunks.</summary>
    private const int ManyRecords = 16_000;

    private string _dir = "";

    [SetUp]
    public void CreateFolder()
    {
        _dir = Path.Combine(Path.GetTempPath(), "csv-slice-reader-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private string WriteFile(string name, string content, bool bom = false)
    {
        var path = Path.Combine(_dir, name);
        var bytes = (bom ? [0xEF, 0xBB, 0xBF] : Array.Empty<byte>()).Concat(Encoding.UTF8.GetBytes(content)).ToArray();
        if (name.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var file = File.Create(path);
            using var gzip = new GZipStream(file, CompressionLevel.Fastest);
            gzip.Write(bytes);
        }
        else
        {
            File.WriteAllBytes(path, bytes);
        }
        return path;
    }

    private static Task<CsvSliceReader> OpenAsync(string path, long chunkSize = TinyChunkSize, long maxFieldSize = SourceSpec.DefaultMaxFieldSize) =>
        CsvSliceReader.OpenAsync(SourceCatalog.Describe(path, SourceFormat.Auto), ',', chunkSize, maxFieldSize, CancellationToken.None);

    private sealed record ChunkResult(int Seq, long SourceBytes, string Output, ChunkCounts Counts);

    /// <summary>Reads a file the way SliceBuilder does and returns what each chunk wrote: "profileId,email" of members of S1.</summary>
    private static async Task<List<ChunkResult>> ExportAsync(string path, long chunkSize = TinyChunkSize,
        MalformedRowPolicy policy = MalformedRowPolicy.Fail, Func<int, bool>? skip = null, long maxFieldSize = SourceSpec.DefaultMaxFieldSize)
    {
        using var reader = await OpenAsync(path, chunkSize, maxFieldSize);
        var spec = new ExportSpec
        {
            ActivationId = "test",
            Source = new SourceSpec { Path = path },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "profileId"), new OutputField("email", "email")],
            Output = new FormatSpec { Compression = OutputCompression.None },
            Destination = new DestinationSpec { Name = "out", Type = "local", Location = "/unused" },
            OnMalformedRow = policy,
        };
        var binding = ColumnBinding.Create(reader.Columns, spec, path);
        var selection = new RowSelection(spec.SegmentId, ';', null, null, incremental: false);
        using var rows = new DelimitedRowWriter(spec.Output);
        var writer = new ChunkWriter(rows, selection, binding, policy, path);
        var results = new List<ChunkResult>();
        await foreach (var chunk in reader.ReadChunksAsync(skip ?? (_ => false), CancellationToken.None))
        {
            using (chunk)
            {
                await chunk.LoadAsync(binding, CancellationToken.None);
                using var buffer = new MemoryStream();
                rows.Reset(buffer);
                chunk.Write(writer);
                rows.Flush();
                results.Add(new ChunkResult(chunk.Seq, chunk.SourceBytes, Encoding.UTF8.GetString(buffer.ToArray()), writer.TakeCounts()));
            }
        }
        return results;
    }

    private static string Output(IEnumerable<ChunkResult> chunks) => string.Concat(chunks.Select(c => c.Output));

    /// <summary>
    /// Every record spans two lines: a quoted note whose second line is long, so most cut points fall between a
    /// quoted newline and the record's end, where a quote-unaware cut would split the record (and, under the Fail
    /// policy, throw). Profiles p0, p3, p6, ... are members of S1.
    /// </summary>
    private static string MultiLineRecords(int count, Func<int, string?>? replace = null)
    {
        var padding = new string('x', 150);
        var sb = new StringBuilder(Header);
        for (var i = 0; i < count; i++)
            sb.Append(replace?.Invoke(i) ?? $"p{i},user{i}@example.com,\"note {i}\nsecond line, with \"\"quotes\"\" {padding}\",S{i % 3 + 1};S9\n");
        return sb.ToString();
    }

    private static string MembersOfS1(int count, Func<int, bool>? except = null) =>
        string.Concat(Enumerable.Range(0, count).Where(i => i % 3 == 0 && except?.Invoke(i) != true).Select(i => $"p{i},user{i}@example.com\n"));

    [Test]
    public async Task Reads_the_header_columns()
    {
        using var reader = await OpenAsync(WriteFile("a.csv", "profileId, email ,\"last, name\",segments\np1,a@x,b,S1\n"));

        Assert.That(reader.Columns, Is.EqualTo(new[] { "profileId", "email", "last, name", "segments" }));
    }

    [Test]
    public async Task Reads_the_header_after_a_utf8_bom_and_with_crlf()
    {
        var path = WriteFile("bom.csv", "profileId,email,note,segments\r\np1,a@x,n,S1\r\np2,b@x,n,S2\r\np3,c@x,n,S1\r\n", bom: true);

        using (var reader = await OpenAsync(path))
            Assert.That(reader.Columns, Is.EqualTo(new[] { "profileId", "email", "note", "segments" }));
        Assert.That(Output(await ExportAsync(path)), Is.EqualTo("p1,a@x\np3,c@x\n"));
    }

    [Test]
    public async Task Reads_a_gzip_file_like_the_plain_one()
    {
        var content = MultiLineRecords(ManyRecords);
        var plain = await ExportAsync(WriteFile("p.csv", content), SmallestChunkSize);
        var gzip = await ExportAsync(WriteFile("p.csv.gz", content), SmallestChunkSize);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Output(gzip), Is.EqualTo(MembersOfS1(ManyRecords)));
            Assert.That(Output(gzip), Is.EqualTo(Output(plain)));
            Assert.That(gzip.Sum(c => c.SourceBytes), Is.EqualTo(Encoding.UTF8.GetByteCount(content) - Header.Length));
        }
    }

    [Test]
    public async Task A_gzip_file_cut_short_fails_with_its_length_instead_of_reading_fewer_rows()
    {
        var path = WriteFile("p.csv.gz", MultiLineRecords(ManyRecords));
        var whole = File.ReadAllBytes(path);
        var random = new Random(2026);
        foreach (var cut in Enumerable.Range(0, 12).Select(_ => random.Next(1, whole.Length)).Append(whole.Length - 8).Append(whole.Length - 1))
        {
            File.WriteAllBytes(path, whole[..cut]);
            var e = (await Assert.CatchAsync<SourceException>(() => ExportAsync(path, SmallestChunkSize)))!;
            Assert.That(e.Message, Does.StartWith($"{path}: truncated gzip stream after {cut} bytes"), $"cut at {cut} of {whole.Length}");
        }
    }

    [Test]
    public async Task A_gzip_file_with_a_bad_crc_fails_at_the_trailer()
    {
        var path = WriteFile("p.csv.gz", MultiLineRecords(100));
        var bytes = File.ReadAllBytes(path);
        bytes[^7] ^= 0xFF;
        File.WriteAllBytes(path, bytes);

        var e = (await Assert.CatchAsync<SourceException>(() => ExportAsync(path)))!;
        Assert.That(e.Message, Does.StartWith($"{path}: corrupt gzip stream at byte {bytes.Length - 8}: the CRC-32 of member 1"));
    }

    [Test]
    public async Task A_gz_file_that_is_not_gzip_says_so()
    {
        var path = Path.Combine(_dir, "plain.csv.gz");
        await File.WriteAllTextAsync(path, Header + "p1,a@x,,S1\n");

        var e = (await Assert.CatchAsync<SourceException>(() => OpenAsync(path)))!;
        Assert.That(e.Message, Does.StartWith($"{path}: corrupt gzip stream at byte 0: the file does not start with the gzip signature"));
    }

    [Test]
    public async Task A_byte_that_is_not_utf8_makes_the_row_malformed_naming_line_and_byte()
    {
        var path = Path.Combine(_dir, "latin1.csv");
        await File.WriteAllBytesAsync(path, [.. Encoding.UTF8.GetBytes(Header + "p1,a@x,,S1\n"), .. "p2,M"u8, 0xFC, .. "nchen@x,,S1\np3,c@x,,S1\n"u8]);

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path)))!;
        Assert.That(e.Message, Is.EqualTo($"{path}, line 3: byte 5 of the row (0xFC) is not valid UTF-8; the source must be UTF-8"));
        var skipped = await ExportAsync(path, policy: MalformedRowPolicy.Skip);
        Assert.That((Output(skipped), skipped.Sum(c => c.Counts.RowsSkipped)), Is.EqualTo(("p1,a@x\np3,c@x\n", 1L)));
    }

    [Test]
    public async Task A_nul_byte_makes_the_row_malformed()
    {
        var path = Path.Combine(_dir, "nul.csv");
        await File.WriteAllBytesAsync(path, [.. Encoding.UTF8.GetBytes(Header + "p1,a@x,"), 0, .. ",S1\n"u8]);

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path)))!;
        Assert.That(e.Message, Is.EqualTo($"{path}, line 2: byte 8 of the row is a NUL (0x00)"));
    }

    [Test]
    public async Task A_header_that_is_not_utf8_is_malformed_at_line_one()
    {
        var path = Path.Combine(_dir, "header.csv");
        await File.WriteAllBytesAsync(path, [.. "profileId,e"u8, 0xE9, .. "mail,segments\np1,a,S1\n"u8]);

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => OpenAsync(path)))!;
        Assert.That(e.Message, Is.EqualTo($"{path}, line 1: the header row is malformed: byte 12 of the header (0xE9) is not valid UTF-8; the source must be UTF-8"));
    }

    [Test]
    public async Task Two_columns_of_one_name_are_an_error_naming_both()
    {
        var path = WriteFile("dup.csv", "profileId,email,segments, email\np1,a,S1,b\n");

        var e = (await Assert.ThrowsAsync<SourceException>(() => OpenAsync(path)))!;
        Assert.That(e.Message, Is.EqualTo($"{path}: columns 2 and 4 are both named \"email\"; every column needs its own name. Rename one in the source."));
    }

    [Test]
    public async Task An_empty_file_is_a_source_problem()
    {
        var path = WriteFile("empty.csv", "");

        var e = (await Assert.ThrowsAsync<SourceException>(() => OpenAsync(path)))!;
        Assert.That(e.Message, Is.EqualTo($"{path} is empty: a header row with the column names is required."));
    }

    [Test]
    public async Task A_file_with_only_a_header_has_no_chunks()
    {
        var chunks = await ExportAsync(WriteFile("h.csv", Header));

        Assert.That(chunks, Is.Empty);
    }

    [Test]
    public async Task A_header_without_a_newline_is_read()
    {
        var path = WriteFile("h.csv", "profileId,email,segments");

        using var reader = await OpenAsync(path);
        Assert.That(reader.Columns, Is.EqualTo(new[] { "profileId", "email", "segments" }));
    }

    [Test]
    public async Task The_last_line_without_a_trailing_newline_is_read()
    {
        var chunks = await ExportAsync(WriteFile("a.csv", Header + "p1,a@x,n,S2\np2,b@x,n,S1"));

        Assert.That(Output(chunks), Is.EqualTo("p2,b@x\n"));
    }

    [Test]
    public async Task A_quoted_newline_in_the_last_record_without_a_trailing_newline_is_read()
    {
        var chunks = await ExportAsync(WriteFile("a.csv", Header + "p1,a@x,\"x\ny\",S1"));

        Assert.That(Output(chunks), Is.EqualTo("p1,a@x\n"));
    }

    [Test]
    public async Task Blank_lines_carry_no_rows()
    {
        var chunks = await ExportAsync(WriteFile("a.csv", Header + "\np1,a@x,n,S1\n\r\n\np2,b@x,n,S1\n\n"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Output(chunks), Is.EqualTo("p1,a@x\np2,b@x\n"));
            Assert.That(chunks.Sum(c => c.Counts.RowsRead), Is.EqualTo(2));
        }
    }

    [Test]
    public async Task Chunks_are_cut_at_record_boundaries_and_records_with_newlines_are_never_split()
    {
        var content = MultiLineRecords(ManyRecords);

        // Under the Fail policy a record cut in two would throw (unclosed quote or wrong column count).
        var chunks = await ExportAsync(WriteFile("many.csv", content), SmallestChunkSize);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(chunks, Has.Count.GreaterThan(1));
            Assert.That(chunks.Select(c => c.Seq), Is.EqualTo(Enumerable.Range(0, chunks.Count)));
            Assert.That(Output(chunks), Is.EqualTo(MembersOfS1(ManyRecords)));
            Assert.That(chunks.Sum(c => c.Counts.RowsRead), Is.EqualTo(ManyRecords));
            Assert.That(chunks.Sum(c => c.Counts.RowsWritten), Is.EqualTo((ManyRecords + 2) / 3));
            Assert.That(chunks.Sum(c => c.SourceBytes), Is.EqualTo(Encoding.UTF8.GetByteCount(content) - Header.Length));
            Assert.That(chunks.Select(c => c.Counts.RowsSkipped), Is.All.Zero);
        }
    }

    [Test]
    public async Task Chunking_the_same_file_twice_gives_the_same_chunks()
    {
        var path = WriteFile("many.csv", MultiLineRecords(ManyRecords));

        var first = await ExportAsync(path, SmallestChunkSize);
        var second = await ExportAsync(path, SmallestChunkSize);

        Assert.That(second.Select(c => (c.Seq, c.SourceBytes, c.Output)), Is.EqualTo(first.Select(c => (c.Seq, c.SourceBytes, c.Output))));
    }

    [Test]
    public async Task Chunks_hold_about_chunk_size_bytes()
    {
        const int chunkSize = (int)TinyChunkSize;
        var content = MultiLineRecords(50);
        var longestRecord = content.Split("S9\n").Max(r => Encoding.UTF8.GetByteCount(r)) + 3;

        var chunks = await ExportAsync(WriteFile("small.csv", content), chunkSize);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(chunks, Has.Count.GreaterThan(1));
            Assert.That(chunks.Select(c => c.SourceBytes), Is.All.LessThanOrEqualTo(chunkSize + longestRecord));
            Assert.That(Output(chunks), Is.EqualTo(MembersOfS1(50)));
        }
    }

    [Test]
    public async Task The_skip_predicate_skips_chunks_but_keeps_their_numbers()
    {
        var path = WriteFile("many.csv", MultiLineRecords(ManyRecords));
        var all = await ExportAsync(path, SmallestChunkSize);
        Assert.That(all, Has.Count.GreaterThan(1));
        var asked = new List<int>();

        var rest = await ExportAsync(path, SmallestChunkSize, skip: seq => { asked.Add(seq); return seq == 0; });

        using (Assert.EnterMultipleScope())
        {
            Assert.That(asked, Is.EqualTo(all.Select(c => c.Seq)));
            Assert.That(rest.Select(c => c.Seq), Is.EqualTo(all.Skip(1).Select(c => c.Seq)));
            Assert.That(Output(rest), Is.EqualTo(Output(all.Skip(1))));
        }
    }

    [Test]
    public async Task Skipping_every_chunk_returns_none()
    {
        var chunks = await ExportAsync(WriteFile("many.csv", MultiLineRecords(ManyRecords)), SmallestChunkSize, skip: _ => true);

        Assert.That(chunks, Is.Empty);
    }

    [Test]
    public async Task A_malformed_row_fails_with_the_file_and_its_line_counting_multi_line_records_before_it()
    {
        // Line 1 header, 2-3 a quoted note, 4 p2, 5 blank, 6-8 a note with two newlines, 9 the bad row.
        var path = WriteFile("bad.csv", Header + "p1,a@x,\"one\ntwo\",S1\np2,b@x,n,S2\n\np3,c@x,\"a\nb\r\nc\",S1\np4,d@x,n\"oops\",S1\np5,e@x,n,S1\n");

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path)))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e.File, Is.EqualTo(path));
            Assert.That(e.Line, Is.EqualTo(9));
            Assert.That(e.Reason, Is.EqualTo("field 3 has a quote but is not enclosed in quotes"));
            Assert.That(e.Message, Is.EqualTo($"{path}, line 9: field 3 has a quote but is not enclosed in quotes"));
        }
    }

    [Test]
    public async Task A_malformed_row_far_into_the_file_has_the_right_line_in_a_later_chunk()
    {
        const int bad = ManyRecords - 100;
        var path = WriteFile("bad.csv", MultiLineRecords(ManyRecords, i => i == bad ? $"p{i},only-two-columns\n" : null));

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path, SmallestChunkSize)))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e.Line, Is.EqualTo(2 + 2 * bad)); // after the header and `bad` two-line records
            Assert.That(e.Reason, Is.EqualTo("has 2 columns, the header has 4"));
        }
    }

    [Test]
    public async Task A_quote_never_closed_fails_at_the_line_where_the_record_starts()
    {
        var path = WriteFile("open.csv", Header + "p1,a@x,n,S1\np2,b@x,\"never closed,S1\np3,c@x,n,S1\n");

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path)))!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e.Line, Is.EqualTo(3));
            Assert.That(e.Reason, Is.EqualTo("a quote in it is not closed within 1 MiB (the source's maxFieldSize) or before the end of the file, so the row is taken to end with line 3"));
        }
    }

    [Test]
    public async Task A_malformed_header_fails_at_line_one()
    {
        var path = WriteFile("h.csv", "profileId,em\"ail,segments\np1,a@x,S1\n");

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => OpenAsync(path)))!;

        Assert.That(e.Line, Is.EqualTo(1));
    }

    [Test]
    public async Task With_the_skip_policy_malformed_rows_are_counted_and_the_first_is_named()
    {
        var path = WriteFile("bad.csv", Header + "p1,a@x,\"one\ntwo\",S1\np2,b@x,n\"x\",S1\np3,c@x,n,S1\n,d@x,n,S1\np5,e@x,\"n\"x,S1\np6,f@x,n,S1,extra\np7,g@x,n,S1\n");

        var chunks = await ExportAsync(path, policy: MalformedRowPolicy.Skip);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Output(chunks), Is.EqualTo("p1,a@x\np3,c@x\np7,g@x\n"));
            Assert.That(chunks.Sum(c => c.Counts.RowsRead), Is.EqualTo(7));
            Assert.That(chunks.Sum(c => c.Counts.RowsWritten), Is.EqualTo(3));
            Assert.That(chunks.Sum(c => c.Counts.RowsSkipped), Is.EqualTo(4));
            Assert.That(chunks.Select(c => c.Counts.FirstSkipped).First(s => s is not null),
                Is.EqualTo($"{path}, line 4: field 3 has a quote but is not enclosed in quotes"));
        }
    }

    /// <summary>Single-line rows p0..p{count-1} (line = index + 2); members of S1 are the even ones.</summary>
    private static string OneLineRows(int count, Func<int, string?> replace)
    {
        var sb = new StringBuilder(Header);
        for (var i = 0; i < count; i++) sb.Append(replace(i) ?? $"p{i},user{i}@example.com,note {i},S{i % 2 + 1}\n");
        return sb.ToString();
    }

    private static string EvenMembers(int count, Func<int, bool> except) =>
        string.Concat(Enumerable.Range(0, count).Where(i => i % 2 == 0 && !except(i)).Select(i => $"p{i},user{i}@example.com\n"));

    [TestCase(TinyChunkSize, SourceSpec.DefaultMaxFieldSize)]
    [TestCase(SmallestChunkSize, SourceSpec.DefaultMaxFieldSize)]
    [TestCase(TinyChunkSize, SourceSpec.MinMaxFieldSize)]
    [TestCase(SmallestChunkSize, SourceSpec.MinMaxFieldSize)]
    public async Task A_stray_quote_costs_only_its_own_line_whatever_the_chunk_size(long chunkSize, long maxFieldSize)
    {
        // No other quote follows, so the quote never closes: without a bound it took every row after it.
        var path = WriteFile("stray.csv", OneLineRows(3000, i => i == 40 ? "p40,\"oops@example.com,note,S1\n" : null));

        var chunks = await ExportAsync(path, chunkSize, MalformedRowPolicy.Skip, maxFieldSize: maxFieldSize);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Output(chunks), Is.EqualTo(EvenMembers(3000, i => i == 40)));
            Assert.That((chunks.Sum(c => c.Counts.RowsSkipped), chunks.Sum(c => c.Counts.LinesSkipped)), Is.EqualTo((1L, 1L)));
            Assert.That(chunks.Select(c => c.Counts.FirstSkipped).Single(s => s is not null),
                Is.EqualTo($"{path}, line 42: a quote in it is not closed within {ByteSize.Format(maxFieldSize)} (the source's maxFieldSize) or before the end of the file, so the row is taken to end with line 42"));
        }
    }

    [TestCase(TinyChunkSize)]
    [TestCase(SmallestChunkSize)]
    public async Task A_quote_that_closes_far_away_counts_every_line_it_swallowed(long chunkSize)
    {
        // The stray quote on line 42 pairs with the first quote of line 2002: one record of 1,961 lines.
        var path = WriteFile("far.csv", OneLineRows(3000, i => i switch
        {
            40 => "p40,\"oops@example.com,note,S1\n",
            2000 => "p2000,user2000@example.com,\"quoted note\",S1\n",
            _ => null,
        }));

        var chunks = await ExportAsync(path, chunkSize, MalformedRowPolicy.Skip);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Output(chunks), Is.EqualTo(EvenMembers(3000, i => i is >= 40 and <= 2000)));
            Assert.That((chunks.Sum(c => c.Counts.RowsSkipped), chunks.Sum(c => c.Counts.LinesSkipped)), Is.EqualTo((1L, 1961L)));
            Assert.That(chunks.Select(c => c.Counts.FirstSkipped).Single(s => s is not null), Does.StartWith($"{path}, line 42: "));
        }
    }

    [Test]
    public async Task A_quoted_field_within_the_bound_keeps_its_newlines()
    {
        var note = string.Join("\n", Enumerable.Range(0, 100).Select(i => new string('n', 20)));
        var path = WriteFile("long.csv", Header + $"p0,a@x,\"{note}\",S1\np1,b@x,n,S1\n");

        var chunks = await ExportAsync(path, maxFieldSize: SourceSpec.MinMaxFieldSize * 4);

        Assert.That(Output(chunks), Is.EqualTo("p0,a@x\np1,b@x\n"));
    }

    [Test]
    public async Task With_the_skip_policy_each_chunk_names_its_own_first_skipped_row()
    {
        const int bad = ManyRecords - 100;
        var path = WriteFile("bad.csv", MultiLineRecords(ManyRecords, i => i is 3 or bad ? $"p{i},only-two-columns\n" : null));

        var chunks = await ExportAsync(path, SmallestChunkSize, MalformedRowPolicy.Skip);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Output(chunks), Is.EqualTo(MembersOfS1(ManyRecords, except: i => i is 3 or bad)));
            Assert.That(chunks.Sum(c => c.Counts.RowsSkipped), Is.EqualTo(2));
            Assert.That(chunks.Select(c => c.Counts.FirstSkipped).Where(s => s is not null), Is.EqualTo(new[]
            {
                $"{path}, line 8: has 2 columns, the header has 4",
                $"{path}, line {2 + 2 * bad - 1}: has 2 columns, the header has 4",
            }));
        }
    }

    [TestCase("p1,\"a\nb\",n,S1,extra\n", 2, "has 5 columns, the header has 4 (the row spans 2 lines: a quote may be misplaced)")]
    [TestCase("p0,a,n,S1\np1,\"a\nb\"x,n,S1\n", 3, "field 2 has characters after its closing quote (the row spans 2 lines: a quote may be misplaced)")]
    [TestCase("p0,a,n,S1\n,b@x,n,S1\n", 3, "its id column is empty")]
    [TestCase("p1,\"a\nb\nc\",n\n", 2, "has 3 columns, the header has 4 (the row spans 3 lines: a quote may be misplaced)")]
    public async Task Each_malformed_row_is_named_with_its_line_and_why(string rows, int line, string reason)
    {
        var path = WriteFile("bad.csv", Header + rows);

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path)))!;

        Assert.That(e.Message, Is.EqualTo($"{path}, line {line}: {reason}"));
    }

    [Test]
    public async Task A_header_with_a_quoted_newline_moves_every_line_number_down()
    {
        var path = WriteFile("h.csv", "profileId,email,\"no\nte\",segments\np1,a@x,n,S1\np2,only-two\n");

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => ExportAsync(path)))!;

        Assert.That(e.Message, Is.EqualTo($"{path}, line 4: has 2 columns, the header has 4"));
    }

    [Test]
    public async Task A_header_whose_quote_never_closes_is_malformed_at_line_one()
    {
        var path = WriteFile("h.csv", "profileId,\"email,segments\np1,a,S1\n");

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => OpenAsync(path)))!;

        Assert.That(e.Message, Is.EqualTo($"{path}, line 1: the header row is malformed: a quote in it is never closed"));
    }

    [Test]
    public async Task A_header_with_a_misplaced_quote_says_which_field()
    {
        var path = WriteFile("h.csv", "profileId,\"em\"ail,segments\np1,a@x,S1\n");

        var e = (await Assert.ThrowsAsync<MalformedRowException>(() => OpenAsync(path)))!;

        Assert.That(e.Message, Is.EqualTo($"{path}, line 1: the header row is malformed: field 2 has characters after its closing quote"));
    }

    [Test]
    public async Task A_header_of_4096_columns_is_read_and_one_more_is_refused()
    {
        var most = WriteFile("most.csv", string.Join(",", Enumerable.Range(0, 4096).Select(i => $"c{i}")) + "\n");
        var over = WriteFile("over.csv", string.Join(",", Enumerable.Range(0, 4097).Select(i => $"c{i}")) + "\n");

        using (var reader = await OpenAsync(most))
            Assert.That(reader.Columns, Has.Count.EqualTo(4096));
        var e = (await Assert.ThrowsAsync<SourceException>(() => OpenAsync(over)))!;
        Assert.That(e.Message, Is.EqualTo($"{over}: the header has 4097 columns; at most 4096 are supported."));
    }

    [Test]
    public async Task A_header_longer_than_the_read_buffer_is_read_whole()
    {
        // The reader buffers chunk size + 1 MiB (2 MiB here) before it grows: a 3 MB column name does not fit.
        var name = new string('n', 3_000_000);
        var path = WriteFile("wide.csv", $"profileId,email,{name},segments\np1,a@x,v,S1\np2,b@x,v,S2\n");

        var chunks = await ExportAsync(path);

        using (var reader = await OpenAsync(path))
            Assert.That(reader.Columns.Select(c => c.Length), Is.EqualTo(new[] { 9, 5, 3_000_000, 8 }));
        Assert.That(Output(chunks), Is.EqualTo("p1,a@x\n"));
    }

    [Test]
    public async Task An_incremental_export_keeps_rows_updated_in_the_window_and_names_an_unreadable_timestamp()
    {
        var path = WriteFile("inc.csv", "profileId,email,segments,updatedAt\n" +
            "p1,a@x,S1,2026-01-01T00:00:00Z\np2,b@x,S1,2026-01-15T00:00:00Z\np3,c@x,S2,2026-01-15T00:00:00Z\np4,d@x,S1,2026-03-01T00:00:00Z\np5,e@x,S1,soon\n");

        using var reader = await OpenAsync(path);
        var spec = new ExportSpec
        {
            ActivationId = "test",
            Source = new SourceSpec { Path = path },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "profileId")],
            Output = new FormatSpec { Compression = OutputCompression.None },
            Destination = new DestinationSpec { Name = "out", Type = "local", Location = "/unused" },
            Mode = ExportMode.Incremental,
            OnMalformedRow = MalformedRowPolicy.Skip,
        };
        var binding = ColumnBinding.Create(reader.Columns, spec, path);
        var selection = new RowSelection("S1", ';', new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero), incremental: true);
        using var rows = new DelimitedRowWriter(spec.Output);
        var writer = new ChunkWriter(rows, selection, binding, MalformedRowPolicy.Skip, path);
        using var buffer = new MemoryStream();
        rows.Reset(buffer);
        await foreach (var chunk in reader.ReadChunksAsync(_ => false, CancellationToken.None))
            using (chunk) chunk.Write(writer);
        rows.Flush();
        var counts = writer.TakeCounts();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Encoding.UTF8.GetString(buffer.ToArray()), Is.EqualTo("p2\n"));
            Assert.That((counts.RowsRead, counts.RowsWritten, counts.RowsSkipped), Is.EqualTo((5L, 1L, 1L)));
            Assert.That(counts.FirstSkipped, Is.EqualTo($"{path}, line 6: its updatedAt value is not an ISO 8601 timestamp"));
        }
    }

    [TestCase("p.csv")]
    [TestCase("p.csv.gz")]
    public async Task Bytes_read_count_the_file_as_stored(string name)
    {
        var path = WriteFile(name, MultiLineRecords(ManyRecords));
        using var reader = await OpenAsync(path, SmallestChunkSize);
        var before = reader.FileBytesRead;

        await foreach (var chunk in reader.ReadChunksAsync(_ => false, CancellationToken.None)) chunk.Dispose();

        Assert.That(before, Is.GreaterThan(0).And.LessThan(new FileInfo(path).Length));
        Assert.That(reader.FileBytesRead, Is.EqualTo(new FileInfo(path).Length));
    }

    [Test]
    public async Task A_row_with_a_stray_quote_is_counted_as_read_and_skipped()
    {
        var path = WriteFile("stray.csv", Header + "p1,a@x,n,S1\np2,\"b@x,n,S1\np3,c@x,n,S1\n");

        var chunks = await ExportAsync(path, policy: MalformedRowPolicy.Skip);

        Assert.That((chunks.Sum(c => c.Counts.RowsRead), chunks.Sum(c => c.Counts.RowsSkipped), Output(chunks)), Is.EqualTo((3L, 1L, "p1,a@x\np3,c@x\n")));
    }

    [Test]
    public async Task A_record_longer_than_the_read_buffer_is_a_chunk_of_its_own()
    {
        // The reader buffers chunk size + 1 MiB (2 MiB here) and must grow to hold the 3 MB record.
        var note = new string('n', 3_000_000);
        var path = WriteFile("long.csv", Header + $"p0,a@x,n,S1\np1,b@x,{note},S1\np2,c@x,n,S1\n");

        var chunks = await ExportAsync(path);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Output(chunks), Is.EqualTo("p0,a@x\np1,b@x\np2,c@x\n"));
            Assert.That(chunks.Select(c => c.SourceBytes), Has.Some.EqualTo(note.Length + "p1,b@x,,S1\n".Length));
        }
    }

    [Test]
    public async Task A_reader_that_fails_on_the_header_closes_the_file()
    {
        var file = new TrackedStream("profileId,em\"ail\np1,a\n"u8.ToArray());
        var store = new OneFileStore(file);

        Assert.That(async () => await CsvSliceReader.OpenAsync(store, new SourceFile("mem://p.csv", 20, SourceFormat.Csv, false), ',', TinyChunkSize, SourceSpec.DefaultMaxFieldSize, CancellationToken.None),
            Throws.InstanceOf<MalformedRowException>());
        Assert.That(file.Disposed, Is.True);
    }

    [Test]
    public void A_chunk_disposed_twice_returns_its_buffer_once()
    {
        // A size no other test uses: a buffer returned twice would be handed to two renters at once.
        var buffer = SourceBuffers<byte>.Rent(1 << 23);
        var chunk = new CsvChunk(0, buffer, 0, 2, (byte)',', 1, 100);

        chunk.Dispose();
        chunk.Dispose();

        var first = SourceBuffers<byte>.Rent(1 << 23);
        var second = SourceBuffers<byte>.Rent(1 << 23);
        Assert.That(second, Is.Not.SameAs(first));
    }

    [Test]
    public void The_counting_stream_counts_what_is_read_and_only_reads()
    {
        using var counting = new CountingStream(new MemoryStream(new byte[100]));
        var buffer = new byte[30];

        Assert.That(counting.Read(buffer, 0, 30) + counting.Read(buffer.AsSpan(0, 20)), Is.EqualTo(50));
        using (Assert.EnterMultipleScope())
        {
            Assert.That((counting.BytesRead, counting.Position), Is.EqualTo((50L, 50L)));
            Assert.That((counting.CanRead, counting.CanSeek, counting.CanWrite), Is.EqualTo((true, false, false)));
            Assert.That(() => counting.Length, Throws.InstanceOf<NotSupportedException>());
            Assert.That(() => counting.Position = 0, Throws.InstanceOf<NotSupportedException>());
            Assert.That(() => counting.Seek(0, SeekOrigin.Begin), Throws.InstanceOf<NotSupportedException>());
            Assert.That(() => counting.SetLength(0), Throws.InstanceOf<NotSupportedException>());
            Assert.That(() => counting.Write(buffer, 0, 1), Throws.InstanceOf<NotSupportedException>());
        }
    }

    [TestCase(100, 100, false)]
    [TestCase(101, 100, true)]
    [TestCase(99, 100, true)]
    public void A_pinned_file_must_end_at_its_listed_length(int actual, int listed, bool changed)
    {
        var file = new SourceFile("/data/p.csv", listed, SourceFormat.Csv, false, Version: "v1");
        using var counting = new CountingStream(new MemoryStream(new byte[actual]), file);
        var buffer = new byte[64];

        void ReadToEnd()
        {
            while (counting.Read(buffer) > 0) { }
        }

        if (changed)
            Assert.That(ReadToEnd, Throws.InstanceOf<SourceException>().With.Property(nameof(SourceException.IsChanged)).True
                .And.Message.StartsWith("The source file /data/p.csv changed while the export read it"));
        else
            Assert.That(ReadToEnd, Throws.Nothing);
    }

    /// <summary>A stream that remembers being disposed.</summary>
    private sealed class TrackedStream(byte[] bytes) : MemoryStream(bytes)
    {
        public bool Disposed { get; private set; }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }

    private sealed class OneFileStore(Stream file) : Ports.ISourceStore
    {
        public bool Accepts(string location) => true;

        public Task<IReadOnlyList<Ports.SourceEntry>> ListAsync(string location, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken) => Task.FromResult(file);

        public ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
