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
}
