using System.Globalization;
using System.Text;
using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Building;

/// <summary>
/// Which rows an export keeps: members of one segment and, for incremental exports, rows updated
/// inside the run's window (after the last successful run's watermark, up to this run's slot).
/// </summary>
public sealed class RowSelection
{
    public RowSelection(string segmentId, char separator, DateTimeOffset? updatedAfter, DateTimeOffset? updatedUpTo, bool incremental)
    {
        SegmentId = segmentId;
        SegmentUtf8 = Encoding.UTF8.GetBytes(segmentId);
        Separator = (byte)separator;
        SeparatorChar = separator;
        UpdatedAfter = updatedAfter;
        UpdatedUpTo = updatedUpTo;
        Incremental = incremental;
    }

    public string SegmentId { get; }
    public byte[] SegmentUtf8 { get; }
    public byte Separator { get; }
    public char SeparatorChar { get; }
    public DateTimeOffset? UpdatedAfter { get; }
    public DateTimeOffset? UpdatedUpTo { get; }
    public bool Incremental { get; }

    /// <summary>True when the separator-delimited list holds the segment id exactly (spaces around ids ignored).</summary>
    public bool IsMember(ReadOnlySpan<byte> segments)
    {
        var seg = SegmentUtf8.AsSpan();
        // Fast reject: most rows don't mention the segment at all.
        var at = segments.IndexOf(seg);
        while (at >= 0)
        {
            var before = segments[..at].TrimEnd((byte)' ');
            var after = segments[(at + seg.Length)..].TrimStart((byte)' ');
            if ((before.IsEmpty || before[^1] == Separator) && (after.IsEmpty || after[0] == Separator)) return true;
            var next = segments[(at + 1)..].IndexOf(seg);
            at = next < 0 ? -1 : at + 1 + next;
        }
        return false;
    }

    /// <summary>True when one list element (UTF-8) is the segment id, whitespace around it ignored, like <see cref="IsMember(IEnumerable{string?})"/>.</summary>
    public bool IsMemberElement(ReadOnlySpan<byte> element)
    {
        if (element.SequenceEqual(SegmentUtf8)) return true;
        // Nothing to trim (the usual case): not a match.
        if (element.IsEmpty || (element[0] is > 0x20 and < 0x80 && element[^1] is > 0x20 and < 0x80)) return false;
        if (element.Trim(" \t\r\n\v\f"u8).SequenceEqual(SegmentUtf8)) return true;
        // Other (Unicode) whitespace: compare as text, as the string path does. Never taken for ASCII ids.
        return !System.Text.Ascii.IsValid(element) && Encoding.UTF8.GetString(element).AsSpan().Trim().SequenceEqual(SegmentId);
    }

    public bool IsMember(IEnumerable<string?> segments)
    {
        foreach (var s in segments)
            if (s is not null && s.AsSpan().Trim().SequenceEqual(SegmentId)) return true;
        return false;
    }

    /// <summary>Incremental window check; false with a reason when the timestamp is unreadable.</summary>
    public bool InWindow(ReadOnlySpan<byte> updatedAt, out bool inWindow)
    {
        inWindow = true;
        if (!Incremental) return true;
        Span<char> chars = stackalloc char[64];
        if (updatedAt.Length > chars.Length || updatedAt.IsEmpty) return false;
        var n = Encoding.UTF8.GetChars(updatedAt, chars);
        if (!DateTimeOffset.TryParse(chars[..n], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)) return false;
        inWindow = InWindow(t);
        return true;
    }

    public bool InWindow(DateTimeOffset updatedAt) =>
        (UpdatedAfter is null || updatedAt > UpdatedAfter) && (UpdatedUpTo is null || updatedAt <= UpdatedUpTo);
}
