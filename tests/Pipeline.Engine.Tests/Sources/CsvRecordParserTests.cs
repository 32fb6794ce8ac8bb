using System.Text;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class CsvRecordParserTests
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>The unescaped field values of one record, or the parser's error.</summary>
    private static (string[]? Values, string? Error) Parse(string record, char delimiter = ',')
    {
        var bytes = Utf8(record);
        var fields = new CsvField[16];
        var n = CsvRecordParser.Parse(bytes, (byte)delimiter, fields, out var error);
        if (n < 0) return (null, error);
        var scratch = Array.Empty<byte>();
        var values = new string[n];
        for (var i = 0; i < n; i++) values[i] = Encoding.UTF8.GetString(CsvRecordParser.Value(bytes, fields[i], ref scratch));
        return (values, null);
    }

    private static string[] Values(string record, char delimiter = ',')
    {
        var (values, error) = Parse(record, delimiter);
        Assert.That(error, Is.Null);
        return values!;
    }

    private static string Error(string record)
    {
        var (values, error) = Parse(record);
        Assert.That(values, Is.Null);
        return error!;
    }

    [Test]
    public void Splits_plain_fields()
    {
        Assert.That(Values("p1,ann@example.com,S1;S2"), Is.EqualTo(new[] { "p1", "ann@example.com", "S1;S2" }));
    }

    [Test]
    public void Splits_on_the_given_delimiter()
    {
        Assert.That(Values("a\tb,c\td", '\t'), Is.EqualTo(new[] { "a", "b,c", "d" }));
    }

    [Test]
    public void Quoted_fields_may_hold_delimiters_and_newlines()
    {
        Assert.That(Values("\"Doe, Jane\",\"line1\nline2\",x"), Is.EqualTo(new[] { "Doe, Jane", "line1\nline2", "x" }));
    }

    [Test]
    public void Doubled_quotes_are_unescaped()
    {
        Assert.That(Values("\"say \"\"hi\"\"\",\"\"\"\"\"\",\"a\"\"\""), Is.EqualTo(new[] { "say \"hi\"", "\"\"", "a\"" }));
    }

    [Test]
    public void Only_fields_with_doubled_quotes_are_marked_escaped()
    {
        var bytes = Utf8("plain,\"quoted\",\"dou\"\"bled\"");
        var fields = new CsvField[3];

        Assert.That(CsvRecordParser.Parse(bytes, (byte)',', fields, out _), Is.EqualTo(3));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(fields.Select(f => f.Escaped), Is.EqualTo(new[] { false, false, true }));
            Assert.That(fields[1].Start, Is.EqualTo(7));
            Assert.That(fields[1].Length, Is.EqualTo(6));
            Assert.That(fields[2].Length, Is.EqualTo(9));
        }
    }

    [Test]
    public void Empty_fields_are_kept()
    {
        Assert.That(Values("a,,\"\",b"), Is.EqualTo(new[] { "a", "", "", "b" }));
    }

    [Test]
    public void An_empty_record_is_one_empty_field()
    {
        Assert.That(Values(""), Is.EqualTo(new[] { "" }));
    }

    [Test]
    public void A_trailing_delimiter_ends_with_an_empty_field()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Values("a,b,"), Is.EqualTo(new[] { "a", "b", "" }));
            Assert.That(Values("a,\"b\","), Is.EqualTo(new[] { "a", "b", "" }));
        }
    }

    [Test]
    public void Counts_fields_beyond_the_span_without_storing_them()
    {
        var fields = new CsvField[2];

        Assert.That(CsvRecordParser.Parse(Utf8("a,b,c,\"d\""), (byte)',', fields, out var error), Is.EqualTo(4));
        Assert.That(error, Is.Null);
    }

    [Test]
    public void Multi_byte_utf8_is_kept_intact()
    {
        Assert.That(Values("Zoë,\"李, 😀\""), Is.EqualTo(new[] { "Zoë", "李, 😀" }));
    }

    [Test]
    public void A_quote_inside_an_unquoted_field_is_an_error()
    {
        Assert.That(Error("a,b\"c\",d"), Is.EqualTo("field 2 has a quote but is not enclosed in quotes"));
    }

    [Test]
    public void Characters_after_a_closing_quote_are_an_error()
    {
        Assert.That(Error("a,\"b\"c,d"), Is.EqualTo("field 2 has characters after its closing quote"));
    }

    [Test]
    public void An_unterminated_quote_is_an_error()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Error("a,\"b,c"), Is.EqualTo("field 2 has an opening quote but no closing quote"));
            Assert.That(Error("\"b\"\""), Is.EqualTo("field 1 has an opening quote but no closing quote"));
        }
    }

    [Test]
    public void Value_grows_a_too_small_scratch_buffer()
    {
        var bytes = Utf8("\"" + new string('x', 3000) + "\"\"\"");
        var fields = new CsvField[1];
        CsvRecordParser.Parse(bytes, (byte)',', fields, out _);
        var scratch = new byte[4];

        var value = Encoding.UTF8.GetString(CsvRecordParser.Value(bytes, fields[0], ref scratch));

        Assert.That(value, Is.EqualTo(new string('x', 3000) + "\""));
        Assert.That(scratch, Has.Length.GreaterThanOrEqualTo(3000));
    }

    [Test]
    public void Value_of_an_unescaped_field_is_a_slice_of_the_record()
    {
        var bytes = Utf8("ab,\"cd\"");
        var scratch = Array.Empty<byte>();

        var value = CsvRecordParser.Value(bytes, new CsvField { Start = 4, Length = 2 }, ref scratch);

        Assert.That(Encoding.UTF8.GetString(value), Is.EqualTo("cd"));
        Assert.That(scratch, Is.Empty);
    }

    [Test]
    public void FindRecordEnd_returns_the_newline_ending_the_record()
    {
        var data = Utf8("a,b\nc,d\n");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, out var inside0), Is.EqualTo(3));
            Assert.That(inside0, Is.Zero);
            Assert.That(CsvRecordParser.FindRecordEnd(data, 4, out _), Is.EqualTo(7));
        }
    }

    [Test]
    public void FindRecordEnd_skips_newlines_inside_quotes_and_counts_them()
    {
        var data = Utf8("p1,\"line1\nline2\r\nline3\",\"x\"\"\ny\"\np2,z\n");

        var end = CsvRecordParser.FindRecordEnd(data, 0, out var inside);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(end, Is.EqualTo(data.AsSpan().IndexOf("\np2"u8)));
            Assert.That(inside, Is.EqualTo(3));
            Assert.That(CsvRecordParser.FindRecordEnd(data, end + 1, out var next), Is.EqualTo(data.Length - 1));
            Assert.That(next, Is.Zero);
        }
    }

    [Test]
    public void FindRecordEnd_is_minus_one_without_an_ending_newline()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(Utf8("a,b"), 0, out _), Is.EqualTo(-1));
            Assert.That(CsvRecordParser.FindRecordEnd(Utf8("a,\"b\nc\n"), 0, out _), Is.EqualTo(-1));
            Assert.That(CsvRecordParser.FindRecordEnd([], 0, out _), Is.EqualTo(-1));
        }
    }

    [TestCase("", 0)]
    [TestCase("a,b", 0)]
    [TestCase("a,b\n", 4)]
    [TestCase("a\nb\nc", 4)]
    [TestCase("a\nb\n", 4)]
    [TestCase("a\r\nb\r\nc", 6)]
    public void LastRecordBoundary_without_quotes_is_just_past_the_last_newline(string data, int boundary)
    {
        Assert.That(CsvRecordParser.LastRecordBoundary(Utf8(data)), Is.EqualTo(boundary));
    }

    [TestCase("a\n\"b\nc", 2)]
    [TestCase("a\n\"b\nc\"\nd", 8)]
    [TestCase("\"x\ny\"\n", 6)]
    [TestCase("\"x\ny\n", 0)]
    [TestCase("a\n\"b\"\"\n\"\"c\nd", 2)]
    [TestCase("a\n\"b\"\"\nc\"\nd", 10)]
    public void LastRecordBoundary_ignores_newlines_inside_quotes(string data, int boundary)
    {
        Assert.That(CsvRecordParser.LastRecordBoundary(Utf8(data)), Is.EqualTo(boundary));
    }

    [Test]
    public void A_quote_not_closed_within_the_bound_is_stray_and_its_record_ends_with_its_line()
    {
        var data = Utf8("a,\"b\nc\nd\",e\n");
        using (Assert.EnterMultipleScope())
        {
            // Closes 5 bytes on: within a bound of 8, a quoted field of three lines; beyond a bound of 4, a stray quote.
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 8, atEnd: true, out var inside, out var stray), Is.EqualTo(data.Length - 1));
            Assert.That((inside, stray), Is.EqualTo((2, false)));
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 4, atEnd: true, out inside, out stray), Is.EqualTo(4));
            Assert.That((inside, stray), Is.EqualTo((0, true)));
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 8, atEnd: false), Is.EqualTo(data.Length));
            // Past the stray quote's line, the quote after d opens a field not yet known to close.
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 4, atEnd: false), Is.EqualTo(7));
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 4, atEnd: true), Is.EqualTo(data.Length));
        }
    }

    [Test]
    public void A_quote_open_at_the_end_of_the_data_is_undecided_until_the_bound_or_the_end()
    {
        var data = Utf8("a\n\"b\nc\nd\n");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(data, 2, 100, atEnd: false, out _, out _), Is.EqualTo(-1));
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 100, atEnd: false), Is.EqualTo(2));
            Assert.That(CsvRecordParser.FindRecordEnd(data, 2, 100, atEnd: true, out _, out var stray), Is.EqualTo(4));
            Assert.That(stray, Is.True);
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 100, atEnd: true), Is.EqualTo(data.Length));
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 3, atEnd: false), Is.EqualTo(data.Length));
        }
    }

    [Test]
    public void A_closing_quote_that_ends_the_data_closes_only_at_the_end()
    {
        var data = Utf8("\"a\nb\"");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 100, atEnd: false, out _, out _), Is.EqualTo(-1));
            Assert.That(CsvRecordParser.FindRecordEnd(Utf8("\"a\nb\"\n"), 0, 100, atEnd: true, out var inside, out var stray), Is.EqualTo(5));
            Assert.That((inside, stray), Is.EqualTo((1, false)));
        }
    }

    [Test]
    public void A_quoted_field_exactly_as_long_as_the_bound_is_a_field_one_byte_longer_is_stray()
    {
        // The quoted part of the second field, "b\nc", is 3 bytes between its quotes.
        var data = Utf8("a,\"b\nc\",d\ne\n");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 3, atEnd: false, out var inside, out var stray), Is.EqualTo(9));
            Assert.That((inside, stray), Is.EqualTo((1, false)));
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 2, atEnd: false, out inside, out stray), Is.EqualTo(4));
            Assert.That((inside, stray), Is.EqualTo((0, true)));
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 3), Is.EqualTo(data.Length));
            Assert.That(CsvRecordParser.LastRecordBoundary(data.AsSpan(0, 10), 3), Is.EqualTo(10));
            Assert.That(CsvRecordParser.LastRecordBoundary(data.AsSpan(0, 10), 2), Is.EqualTo(10));
            Assert.That(CsvRecordParser.LastRecordBoundary(data.AsSpan(0, 8), 3), Is.Zero, "the first record is not complete yet");
            Assert.That(CsvRecordParser.LastRecordBoundary(data.AsSpan(0, 8), 2), Is.EqualTo(5), "past the bound the quote is stray and its line a record");
        }
    }

    [Test]
    public void An_open_quote_with_exactly_the_bound_left_is_undecided_with_one_byte_less_it_is_stray()
    {
        // After the quote, 3 bytes are known ("b\nc") and no closing quote yet.
        var data = Utf8("\"b\nc");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 3, atEnd: false, out _, out var stray), Is.EqualTo(-1));
            Assert.That(stray, Is.False);
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 2, atEnd: false, out _, out stray), Is.EqualTo(2));
            Assert.That(stray, Is.True);
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 3), Is.Zero);
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 2), Is.EqualTo(3));
        }
    }

    [Test]
    public void FindRecordEnd_from_the_middle_counts_only_the_newlines_inside_that_records_quotes()
    {
        var data = Utf8("\"x\ny\"\nq,\"1\n2\n3\",\"4\n5\"\nz\n");
        var second = data.AsSpan().IndexOf("q,"u8);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(data, second, 100, atEnd: false, out var inside, out var stray), Is.EqualTo(data.Length - 3));
            Assert.That((inside, stray), Is.EqualTo((3, false)));
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, out inside), Is.EqualTo(second - 1));
            Assert.That(inside, Is.EqualTo(1));
        }
    }

    [Test]
    public void An_escaped_quote_before_the_end_of_the_data_does_not_close_the_field()
    {
        // "a""" then the data ends: the last quote may be the first of another pair, so only atEnd closes it.
        var data = Utf8("\"a\"\"\"");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.FindRecordEnd(data, 0, 100, atEnd: false, out _, out var stray), Is.EqualTo(-1));
            Assert.That(stray, Is.False);
            Assert.That(CsvRecordParser.FindRecordEnd(Utf8("\"a\"\"\"\n"), 0, 100, atEnd: false, out _, out stray), Is.EqualTo(5));
            Assert.That(stray, Is.False);
            Assert.That(CsvRecordParser.LastRecordBoundary(Utf8("x\n\"a\"\"\"\n"), 100, atEnd: false), Is.EqualTo(8));
        }
    }

    [Test]
    public void Parse_stores_start_and_length_of_every_field_kind()
    {
        var bytes = Utf8("ab,\"c\"\"d\",,\"\"");
        var fields = new CsvField[4];
        Assert.That(CsvRecordParser.Parse(bytes, (byte)',', fields, out var error), Is.EqualTo(4));
        Assert.That(error, Is.Null);
        Assert.That(fields.Select(f => (f.Start, f.Length, f.Escaped)), Is.EqualTo(new[] { (0, 2, false), (4, 4, true), (10, 0, false), (12, 0, false) }));
    }

    [Test]
    public void A_quoted_field_ending_the_record_with_a_doubled_quote_at_its_end_is_escaped()
    {
        Assert.That(Values("\"a\"\"\""), Is.EqualTo(new[] { "a\"" }));
        Assert.That(Error("\"a\"\"\"x"), Is.EqualTo("field 1 has characters after its closing quote"));
    }

    [Test]
    public void Value_keeps_a_scratch_buffer_that_is_big_enough_and_doubles_a_small_one()
    {
        var bytes = Utf8("\"a\"\"b\"");
        var fields = new CsvField[1];
        CsvRecordParser.Parse(bytes, (byte)',', fields, out _);
        var big = new byte[64];
        var kept = big;
        Assert.That(Encoding.UTF8.GetString(CsvRecordParser.Value(bytes, fields[0], ref big)), Is.EqualTo("a\"b"));
        Assert.That(big, Is.SameAs(kept));

        var small = new byte[3];
        Assert.That(Encoding.UTF8.GetString(CsvRecordParser.Value(bytes, fields[0], ref small)), Is.EqualTo("a\"b"));
        Assert.That(small, Has.Length.EqualTo(6), "twice the old size, since that is more than the 4 raw bytes");

        var exact = new byte[4];
        var exactKept = exact;
        CsvRecordParser.Value(bytes, fields[0], ref exact);
        Assert.That(exact, Is.SameAs(exactKept), "4 raw bytes fit a 4-byte buffer");
    }

    [Test]
    public void A_stray_quote_right_before_a_newline_ends_its_record_at_that_newline()
    {
        var data = Utf8("a\n\"\nb");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 1), Is.EqualTo(4));
            Assert.That(CsvRecordParser.FindRecordEnd(data, 2, 1, atEnd: false, out _, out var stray), Is.EqualTo(3));
            Assert.That(stray, Is.True);
        }
    }

    [Test]
    public void A_stray_quote_with_no_newline_after_it_has_no_record_end_yet()
    {
        var data = Utf8("a\n\"bcd");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(CsvRecordParser.LastRecordBoundary(data, 1), Is.EqualTo(2));
            Assert.That(CsvRecordParser.FindRecordEnd(data, 2, 1, atEnd: false, out _, out var stray), Is.EqualTo(-1));
            Assert.That(stray, Is.False);
        }
    }

    [Test]
    public void A_quote_ending_the_data_closes_its_field_only_at_the_end_of_the_file()
    {
        using (Assert.EnterMultipleScope())
        {
            // At the end of the file the field "b\nc" is closed: the last record boundary is before it.
            Assert.That(CsvRecordParser.LastRecordBoundary(Utf8("a\n\"b\nc\""), atEnd: true), Is.EqualTo(2));
            // Before the end, a quote as the last byte may open a doubled quote: the field is still open, and the
            // bytes after its opening quote (4) are more than the bound (3), so it is stray and ends at its line.
            Assert.That(CsvRecordParser.FindRecordEnd(Utf8("\"a\nb\""), 0, 3, atEnd: false, out _, out var stray), Is.EqualTo(2));
            Assert.That(stray, Is.True);
        }
    }
}
