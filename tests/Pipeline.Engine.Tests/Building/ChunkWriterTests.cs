using System.Buffers;
using System.Text;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Building;

/// <summary>ChunkWriter and ColumnBinding (both in Building/ChunkWriter.cs).</summary>
public class ChunkWriterTests
{
    private const string File = "/data/profiles.csv";

    private static readonly string[] Columns = ["profileId", "email", "segments", "updatedAt", "city"];

    private static ExportSpec Spec(ExportMode mode = ExportMode.Full, params string[] fields) => new()
    {
        ActivationId = "vip",
        Source = new SourceSpec { Path = File },
        SegmentId = "S1",
        Fields = (fields.Length == 0 ? ["email", "profileId"] : fields).Select(f => new OutputField(f, f)).ToList(),
        Output = new FormatSpec { Compression = OutputCompression.None },
        Destination = new DestinationSpec { Name = "out", Type = "local", Location = "/unused" },
        Mode = mode,
    };

    private static ChunkWriter Writer(MalformedRowPolicy policy, DelimitedRowWriter? rows = null, RowSelection? selection = null, ColumnBinding? binding = null) =>
        new(rows ?? new DelimitedRowWriter(new FormatSpec()), selection ?? new RowSelection("S1", ';', null, null, false),
            binding ?? ColumnBinding.Create(Columns, Spec(), File), policy, File);

    [Test]
    public void Under_the_fail_policy_a_malformed_row_throws_with_file_and_line()
    {
        var writer = Writer(MalformedRowPolicy.Fail);

        var e = Assert.Throws<MalformedRowException>(() => writer.Malformed(42, "has 3 columns, the header has 5"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e.File, Is.EqualTo(File));
            Assert.That(e.Line, Is.EqualTo(42));
            Assert.That(e.Reason, Is.EqualTo("has 3 columns, the header has 5"));
            Assert.That(e.Message, Is.EqualTo("/data/profiles.csv, line 42: has 3 columns, the header has 5"));
            Assert.That(writer.RowsSkipped, Is.Zero);
        }
    }

    [Test]
    public void Under_the_skip_policy_malformed_rows_are_counted_and_the_first_is_kept()
    {
        var writer = Writer(MalformedRowPolicy.Skip);

        writer.Malformed(7, "first reason");
        writer.Malformed(9, "second reason");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(writer.RowsSkipped, Is.EqualTo(2));
            Assert.That(writer.FirstSkipped, Is.EqualTo("/data/profiles.csv, line 7: first reason"));
        }
    }

    [Test]
    public void TakeCounts_returns_the_counts_and_starts_over()
    {
        var writer = Writer(MalformedRowPolicy.Skip);
        writer.RowsRead = 10;
        writer.RowsWritten = 4;
        writer.Malformed(3, "bad");

        var first = writer.TakeCounts();
        writer.Malformed(12, "worse", lines: 40);
        var second = writer.TakeCounts();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(first, Is.EqualTo(new ChunkCounts(10, 4, 1, "/data/profiles.csv, line 3: bad", LinesSkipped: 1)));
            Assert.That(second, Is.EqualTo(new ChunkCounts(0, 0, 1, "/data/profiles.csv, line 12: worse", LinesSkipped: 40)));
            Assert.That(writer.TakeCounts(), Is.EqualTo(new ChunkCounts(0, 0, 0, null)));
        }
    }

    [Test]
    public void An_incremental_chunk_keeps_rows_inside_the_window_and_flags_unreadable_timestamps()
    {
        var text = Encoding.UTF8.GetBytes(
            "p1,a@x,S1,2026-11-16T00:00:00Z,Berlin\n" + // at the start of the window: already exported
            "p2,b@x,S1,2026-11-16T06:00:00Z,Bonn\n" +
            "p3,c@x,S2,2026-11-16T06:00:00Z,Köln\n" + // not a member
            "p4,d@x,S1,soon,Kiel\n" +
            "p5,e@x,S1,2026-11-17T00:00:00Z,Ulm\n");
        var data = ArrayPool<byte>.Shared.Rent(text.Length); // the chunk returns its buffer to the pool
        text.CopyTo(data, 0);
        var spec = Spec(ExportMode.Incremental);
        var selection = new RowSelection("S1", ';', new DateTimeOffset(2026, 11, 16, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 11, 17, 0, 0, 0, TimeSpan.Zero), incremental: true);
        using var rows = new DelimitedRowWriter(spec.Output);
        var writer = Writer(MalformedRowPolicy.Skip, rows, selection, ColumnBinding.Create(Columns, spec, File));
        using var output = new MemoryStream();
        rows.Reset(output);

        using (var chunk = new CsvChunk(0, data, text.Length, firstLine: 20, (byte)',', Columns.Length, (int)SourceSpec.DefaultMaxFieldSize))
            chunk.Write(writer);
        rows.Flush();

        using (Assert.EnterMultipleScope())
        {
            Assert.That(Encoding.UTF8.GetString(output.ToArray()), Is.EqualTo("b@x,p2\ne@x,p5\n"));
            Assert.That(writer.TakeCounts(), Is.EqualTo(new ChunkCounts(5, 2, 1, "/data/profiles.csv, line 23: its updatedAt value is not an ISO 8601 timestamp", LinesSkipped: 1)));
        }
    }

    [Test]
    public void A_binding_finds_each_column_by_name()
    {
        var binding = ColumnBinding.Create(Columns, Spec(ExportMode.Full, "city", "email", "city"), File);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(binding.Output, Is.EqualTo(new[] { 4, 1, 4 }));
            Assert.That(binding.Id, Is.Zero);
            Assert.That(binding.Segments, Is.EqualTo(2));
            Assert.That(binding.UpdatedAt, Is.EqualTo(-1));
            Assert.That(binding.ColumnCount, Is.EqualTo(5));
            Assert.That(binding.Used, Is.EqualTo(new[] { 0, 1, 2, 4 }));
        }
    }

    [Test]
    public void An_incremental_binding_also_needs_the_updated_at_column()
    {
        var binding = ColumnBinding.Create(Columns, Spec(ExportMode.Incremental), File);

        Assert.That(binding.UpdatedAt, Is.EqualTo(3));
        Assert.That(binding.Used, Is.EqualTo(new[] { 0, 1, 2, 3 }));
    }

    [Test]
    public void A_missing_column_is_a_source_problem_naming_the_near_one()
    {
        var e = Assert.Throws<SourceException>(() => ColumnBinding.Create(Columns, Spec(ExportMode.Full, "Email"), File));

        Assert.That(e.Message, Is.EqualTo("/data/profiles.csv: activation \"vip\" field \"Email\" is not a column of this file (did you mean \"email\"?). " +
                                          "Its columns are: profileId, email, segments, updatedAt, city."));
    }

    [Test]
    public void A_missing_updated_at_column_is_reported_for_incremental_exports()
    {
        string[] columns = ["profileId", "email", "segments"];

        Assert.That(() => ColumnBinding.Create(columns, Spec(ExportMode.Incremental), File),
            Throws.TypeOf<SourceException>().With.Message.Contains("the updatedAt column (needed by incremental mode) \"updatedAt\" is not a column of this file."));
        Assert.That(ColumnBinding.Create(columns, Spec(), File).UpdatedAt, Is.EqualTo(-1));
    }
}
