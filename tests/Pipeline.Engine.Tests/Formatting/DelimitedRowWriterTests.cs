using System.Text;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;

namespace Pipeline.Engine.Tests.Formatting;

public class DelimitedRowWriterTests
{
    private static string Write(FormatSpec format, params string[][] rows)
    {
        using var buffer = new MemoryStream();
        using var writer = new DelimitedRowWriter(format);
        writer.Reset(buffer);
        foreach (var row in rows)
        {
            foreach (var field in row) writer.WriteField(Encoding.UTF8.GetBytes(field));
            writer.EndRow();
        }
        writer.Flush();
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    [Test]
    public void Quotes_only_fields_that_need_it_and_doubles_embedded_quotes()
    {
        var csv = Write(new FormatSpec(), ["plain", "a,b", "say \"hi\"", "line\nbreak", "cr\rx", ""]);
        Assert.That(csv, Is.EqualTo("plain,\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",\"cr\rx\",\n"));
    }

    [TestCase(1)]
    [TestCase(31)]
    [TestCase(32)]
    [TestCase(200)]
    public void Short_and_long_values_are_quoted_the_same_way(int length)
    {
        // Values under 32 bytes are checked byte by byte, longer ones with a vectorized search.
        foreach (var special in new[] { ",", "\"", "\r", "\n" })
        {
            foreach (var at in new[] { 0, length - 1 })
            {
                var value = new string('x', length - 1).Insert(at, special);
                var expected = "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"\n";
                Assert.That(Write(new FormatSpec(), [value]), Is.EqualTo(expected), $"{length} bytes, {special!.Replace("\r", "CR", StringComparison.Ordinal).Replace("\n", "LF", StringComparison.Ordinal)} at {at}");
            }
        }
        Assert.That(Write(new FormatSpec(), [new string('y', length)]), Is.EqualTo(new string('y', length) + "\n"));
    }

    [Test]
    public void Tsv_uses_tabs_and_quotes_fields_holding_tabs()
    {
        var tsv = Write(new FormatSpec { Format = OutputFormat.Tsv }, ["a", "b,c", "d\te"]);
        Assert.That(tsv, Is.EqualTo("a\tb,c\t\"d\te\"\n"));
    }

    [Test]
    public void Crlf_line_endings_when_asked()
    {
        Assert.That(Write(new FormatSpec { LineEnding = "\r\n" }, ["a"], ["b"]), Is.EqualTo("a\r\nb\r\n"));
    }

    [Test]
    public void Unicode_is_written_as_utf8_without_bom()
    {
        using var buffer = new MemoryStream();
        using var writer = new DelimitedRowWriter(new FormatSpec());
        writer.Reset(buffer);
        writer.WriteField("Zoë 李 😀".AsSpan());
        writer.EndRow();
        writer.Flush();
        var bytes = buffer.ToArray();
        Assert.That(bytes.AsSpan(0, 3).SequenceEqual(new byte[] { 0xEF, 0xBB, 0xBF }), Is.False);
        Assert.That(Encoding.UTF8.GetString(bytes), Is.EqualTo("Zoë 李 😀\n"));
    }

    [Test]
    public void Formula_protection_prefixes_dangerous_cells_only_when_enabled()
    {
        string[] row = ["=1+2", "+x", "-3", "@sum", "safe"];
        Assert.That(Write(new FormatSpec(), row), Is.EqualTo("=1+2,+x,-3,@sum,safe\n"));
        Assert.That(Write(new FormatSpec { FormulaProtection = true }, row), Is.EqualTo("'=1+2,'+x,'-3,'@sum,safe\n"));
    }

    [Test]
    public void Long_values_larger_than_the_buffer_are_written_whole()
    {
        var big = new string('x', 200_000) + "\"";
        var csv = Write(new FormatSpec(), [big, "end"]);
        Assert.That(csv, Is.EqualTo("\"" + big.Replace("\"", "\"\"") + "\",end\n"));
    }

    [Test]
    public void An_empty_field_is_written_empty_with_formula_protection_on()
    {
        Assert.That(Write(new FormatSpec { FormulaProtection = true }, ["", "=x", ""], [""]), Is.EqualTo(",'=x,\n\n"));
    }

    [Test]
    public void Formula_protection_goes_inside_the_quotes_of_a_quoted_cell()
    {
        Assert.That(Write(new FormatSpec { FormulaProtection = true }, ["=HYPERLINK(\"x\")", "\tTab,bed", "\rcr"]),
            Is.EqualTo("\"'=HYPERLINK(\"\"x\"\")\",\"'\tTab,bed\",\"'\rcr\"\n"));
    }

    [Test]
    public void Many_rows_crossing_the_buffer_many_times_come_out_whole_and_in_order()
    {
        // Fields of every length from 0 to 70 bytes, plain, all quotes, or formula-like with a delimiter: some field
        // always lands on a buffer boundary, where the worst case (every byte a doubled quote) must still fit.
        var format = new FormatSpec { FormulaProtection = true, LineEnding = "\r\n" };
        var rows = Enumerable.Range(0, 6000).Select(r => Enumerable.Range(0, 3).Select(c => ((r * 3 + c) % 71, (r + c) % 3) switch
        {
            (var length, 0) => new string('a', length),
            (var length, 1) => new string('"', length),
            (var length, _) => "-" + new string(',', length),
        }).ToArray()).ToArray();

        var csv = Write(format, rows);

        Assert.That(csv.Length, Is.GreaterThan(4 * 64 * 1024), "the rows fill the 64 KiB buffer several times");
        Assert.That(csv, Is.EqualTo(Reference(format, rows)));
    }

    [Test]
    public void A_long_value_after_buffered_rows_keeps_the_rows_before_it()
    {
        var rows = Enumerable.Range(0, 3000).Select(i => new[] { $"row{i}", "x" }).Append([new string('"', 100_000), "last"]).ToArray();

        Assert.That(Write(new FormatSpec(), rows), Is.EqualTo(Reference(new FormatSpec(), rows)));
    }

    [Test]
    public void Long_text_is_encoded_whole_through_a_grown_scratch_buffer()
    {
        var text = string.Concat(Enumerable.Repeat("Zoë 李 😀,", 500));
        using var buffer = new MemoryStream();
        using var writer = new DelimitedRowWriter(new FormatSpec());
        writer.Reset(buffer);
        writer.WriteField("short".AsSpan());
        writer.WriteField(text.AsSpan());
        writer.WriteField("after".AsSpan());
        writer.EndRow();
        writer.Flush();

        Assert.That(Encoding.UTF8.GetString(buffer.ToArray()), Is.EqualTo("short,\"" + text + "\",after\n"));
    }

    [Test]
    public void Rows_reach_the_sink_only_when_flushed_or_when_the_buffer_is_full()
    {
        var sink = new WriteCountingStream();
        using var writer = new DelimitedRowWriter(new FormatSpec());
        writer.Reset(sink);
        writer.Flush();
        Assert.That(sink.Writes, Is.Empty, "nothing to write");

        // One-byte rows: each field may need 6 bytes (delimiter, quotes, formula mark, doubled quote), its row end 1.
        for (var i = 0; i < 32_766; i++)
        {
            writer.WriteField("x"u8);
            writer.EndRow();
        }
        Assert.That(sink.Writes, Is.Empty, "65,532 bytes, and every field found room for its worst case");

        writer.WriteField("x"u8);
        writer.EndRow();
        writer.Flush();
        Assert.That(sink.Writes, Is.EqualTo(new[] { 65_532, 2 }));
    }

    [Test]
    public void A_row_end_that_does_not_fit_the_buffer_is_written_after_a_flush()
    {
        // 21,843 rows of "x" CRLF fill 65,529 bytes; then "a" and a doubled quote take the buffer to 65,535 bytes,
        // one short of the CRLF that ends their row.
        var format = new FormatSpec { LineEnding = "\r\n" };
        var rows = Enumerable.Repeat(new[] { "x" }, 21_843).Append(["a", "\""]).Append(["end"]).ToArray();

        Assert.That(Write(format, rows), Is.EqualTo(Reference(format, rows)));
    }

    [Test]
    public void Reset_starts_a_new_output_without_the_bytes_of_the_last_one()
    {
        using var first = new MemoryStream();
        using var second = new MemoryStream();
        using var writer = new DelimitedRowWriter(new FormatSpec());
        writer.Reset(first);
        writer.WriteField("a"u8);
        writer.Reset(second);
        writer.WriteField("b"u8);
        writer.EndRow();
        writer.Flush();

        Assert.That(Encoding.UTF8.GetString(second.ToArray()), Is.EqualTo("b\n"));
        Assert.That(first.Length, Is.Zero);
    }

    /// <summary>RFC 4180 written the slow, obvious way, to compare the writer against.</summary>
    private static string Reference(FormatSpec format, string[][] rows)
    {
        var sb = new StringBuilder();
        foreach (var row in rows)
        {
            sb.AppendJoin(format.Delimiter, row.Select(field =>
            {
                var quote = field.IndexOfAny([format.Delimiter, '"', '\r', '\n']) >= 0;
                var mark = format.FormulaProtection && field.Length > 0 && "=+-@\t\r".Contains(field[0]) ? "'" : "";
                return quote ? "\"" + mark + field.Replace("\"", "\"\"") + "\"" : mark + field;
            }));
            sb.Append(format.LineEnding);
        }
        return sb.ToString();
    }

    /// <summary>Records the size of each write, to see when the writer hands its buffer on.</summary>
    private sealed class WriteCountingStream : MemoryStream
    {
        public List<int> Writes { get; } = [];

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes.Add(count);
            base.Write(buffer, offset, count);
        }
    }
}
