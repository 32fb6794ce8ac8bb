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
    public static int FindRecordEnd(ReadOnlySpan<byte> data, int start, out int newlinesInside)
    {
        newlinesInside = 0;
        var i = start;
        while (i < data.Length)
        {
            var k = data[i..].IndexOfAny((byte)'"', (byte)'\n');
            if (k < 0) return -1;
            if (data[i + k] == (byte)'\n') return i + k;
            var open = i + k + 1;
            var q = data[open..].IndexOf((byte)'"');
            if (q < 0) return -1;
            newlinesInside += data.Slice(open, q).Count((byte)'\n');
            i = open + q + 1;
        }
        return -1;
    }

    /// <summary>
    /// The offset just past the last complete record in <paramref name="data"/> (which starts at a record
    /// boundary), or 0 when there is none. Walks quote to quote, so quote-free data costs one LastIndexOf.
    /// </summary>
    public static int LastRecordBoundary(ReadOnlySpan<byte> data)
    {
        var lastNewline = -1;
        var inQuotes = false;
        var i = 0;
        while (i <= data.Length)
        {
            var q = data[i..].IndexOf((byte)'"');
            var segmentEnd = q < 0 ? data.Length : i + q;
            if (!inQuotes)
            {
                var nl = data[i..segmentEnd].LastIndexOf((byte)'\n');
                if (nl >= 0) lastNewline = i + nl;
            }
            if (q < 0) break;
            inQuotes = !inQuotes;
            i = segmentEnd + 1;
        }
        return lastNewline + 1;
    }

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
