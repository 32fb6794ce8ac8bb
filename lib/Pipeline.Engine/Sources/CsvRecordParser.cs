namespace Pipeline.Engine.Sources;

/// <summary>Where one field sits inside a record; Escaped means it was quoted and holds doubled quotes.</summary>
internal struct CsvField
{
    public int Start;
    public int Length;
    public bool Escaped;
}

/// <summary>RFC 4180 record splitting over UTF-8 bytes, without allocating.</summary>
internal static class CsvRecordParser
{
    /// <summary>
    /// Index of the '\n' ending the record that starts at <paramref name="start"/>, honouring quotes
    /// (a newline inside quotes belongs to the field). -1 when the record never ends (unterminated quote).
    /// </summary>
    public static int FindRecordEnd(ReadOnlySpan<byte> data, int start, out int newlinesInside) =>
        FindRecordEnd(data, start, int.MaxValue, atEnd: false, out newlinesInside, out _);

    /// <summary>
    /// Index of the '\n' ending the record that starts at <paramref name="start"/>, or -1 when <paramref name="data"/>
    /// does not tell yet. A quote must close within <paramref name="maxField"/> bytes (and before the end of the data
    /// when <paramref name="atEnd"/>); otherwise it is a stray quote: the record ends at the end of its line and is
    /// <paramref name="stray"/> (malformed). Without this bound one stray quote swallows every row up to the next quote.
    /// </summary>
    public static int FindRecordEnd(ReadOnlySpan<byte> data, int start, int maxField, bool atEnd, out int newlinesInside, out bool stray)
    {
        newlinesInside = 0;
        stray = false;
        var i = start;
        while (i < data.Length)
        {
            var k = data[i..].IndexOfAny((byte)'"', (byte)'\n');
            if (k < 0) return -1;
            if (data[i + k] == (byte)'\n') return i + k;
            var open = i + k + 1;
            var close = FindClosingQuote(data, open, atEnd);
            if (IsStray(data.Length, open, close, maxField, atEnd))
            {
                var nl = data[open..].IndexOf((byte)'\n');
                if (nl < 0) return -1;
                stray = true;
                return open + nl;
            }
            if (close < 0) return -1;
            newlinesInside += data[open..close].Count((byte)'\n');
            i = close + 1;
        }
        return -1;
    }

    /// <summary>
    /// The offset just past the last complete record in <paramref name="data"/> (which starts at a record
    /// boundary), or 0 when there is none. Walks quote to quote, so quote-free data costs one LastIndexOf.
    /// Quotes follow the rule of <see cref="FindRecordEnd(ReadOnlySpan{byte}, int, int, bool, out int, out bool)"/>.
    /// </summary>
    public static int LastRecordBoundary(ReadOnlySpan<byte> data, int maxField = int.MaxValue, bool atEnd = false)
    {
        var lastNewline = -1;
        var i = 0;
        while (true)
        {
            var q = data[i..].IndexOf((byte)'"');
            var segmentEnd = q < 0 ? data.Length : i + q;
            var nl = data[i..segmentEnd].LastIndexOf((byte)'\n');
            if (nl >= 0) lastNewline = i + nl;
            if (q < 0) break;
            var open = segmentEnd + 1;
            var close = FindClosingQuote(data, open, atEnd);
            if (IsStray(data.Length, open, close, maxField, atEnd))
            {
                // A stray quote: its record ends at the end of its line, where the walk goes on outside quotes.
                var end = data[open..].IndexOf((byte)'\n');
                if (end < 0) break;
                i = open + end;
                continue;
            }
            if (close < 0) break; // still inside quotes: no newline after the quote is known to end a record
            i = close + 1;
        }
        return lastNewline + 1;
    }

    /// <summary>The quote closing a field opened just before <paramref name="open"/> ("" is an escaped quote), or -1 when not in the data.</summary>
    private static int FindClosingQuote(ReadOnlySpan<byte> data, int open, bool atEnd)
    {
        var j = open;
        while (true)
        {
            var q = data[j..].IndexOf((byte)'"');
            if (q < 0) return -1;
            var at = j + q;
            if (at + 1 == data.Length) return atEnd ? at : -1; // the next byte decides whether it is an escaped quote
            if (data[at + 1] != (byte)'"') return at;
            j = at + 2;
        }
    }

    private static bool IsStray(int length, int open, int close, int maxField, bool atEnd) =>
        close >= 0 ? close - open > maxField : atEnd || length - open > maxField;

    /// <summary>
    /// Splits one record (without its line ending) into fields. Returns the number of fields (which may
    /// exceed <paramref name="fields"/>' length; extra fields are counted, not stored), or -1 with an
    /// error for bad quoting.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> record, byte delimiter, Span<CsvField> fields, out string? error)
    {
        error = null;
        var n = 0;
        var i = 0;
        while (true)
        {
            if (i < record.Length && record[i] == (byte)'"')
            {
                var j = i + 1;
                var escaped = false;
                while (true)
                {
                    var q = record[j..].IndexOf((byte)'"');
                    if (q < 0) { error = $"field {n + 1} has an opening quote but no closing quote"; return -1; }
                    j += q;
                    if (j + 1 < record.Length && record[j + 1] == (byte)'"') { escaped = true; j += 2; continue; }
                    break;
                }
                if (n < fields.Length) fields[n] = new CsvField { Start = i + 1, Length = j - i - 1, Escaped = escaped };
                n++;
                i = j + 1;
                if (i == record.Length) return n;
                if (record[i] != delimiter) { error = $"field {n} has characters after its closing quote"; return -1; }
                i++;
            }
            else
            {
                var rest = record[i..];
                var k = rest.IndexOfAny(delimiter, (byte)'"');
                if (k >= 0 && rest[k] == (byte)'"') { error = $"field {n + 1} has a quote but is not enclosed in quotes"; return -1; }
                var length = k < 0 ? rest.Length : k;
                if (n < fields.Length) fields[n] = new CsvField { Start = i, Length = length };
                n++;
                if (k < 0) return n;
                i += k + 1;
            }
        }
    }

    /// <summary>The field's value; doubled quotes are collapsed into <paramref name="scratch"/> when needed.</summary>
    public static ReadOnlySpan<byte> Value(ReadOnlySpan<byte> record, CsvField field, ref byte[] scratch)
    {
        var raw = record.Slice(field.Start, field.Length);
        if (!field.Escaped) return raw;
        if (scratch.Length < raw.Length) scratch = new byte[Math.Max(raw.Length, scratch.Length * 2)];
        var n = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            scratch[n++] = raw[i];
            if (raw[i] == (byte)'"') i++; // skip the second quote of a pair
        }
        return scratch.AsSpan(0, n);
    }
}
