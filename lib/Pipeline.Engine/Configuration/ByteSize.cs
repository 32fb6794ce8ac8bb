using System.Globalization;

namespace Pipeline.Engine.Configuration;

/// <summary>Sizes written by people: "1TB", "512MiB", "5 MB", "1048576".</summary>
public static class ByteSize
{
    public const long KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB, TiB = 1024 * GiB;

    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("kib", KiB), ("mib", MiB), ("gib", GiB), ("tib", TiB),
        ("kb", 1000), ("mb", 1000_000), ("gb", 1000_000_000), ("tb", 1000_000_000_000),
        ("k", KiB), ("m", MiB), ("g", GiB), ("t", TiB), ("b", 1),
    ];

    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim().ToLowerInvariant().Replace("_", "", StringComparison.Ordinal);
        long factor = 1;
        foreach (var (suffix, f) in Units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                factor = f;
                s = s[..^suffix.Length].TrimEnd();
                break;
            }
        }
        if (!decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n < 0) return false;
        var total = n * factor;
        if (total > long.MaxValue) return false;
        bytes = (long)Math.Ceiling(total);
        return true;
    }

    public static string Format(long bytes) => bytes switch
    {
        >= TiB => Fmt(bytes, TiB, "TiB"),
        >= GiB => Fmt(bytes, GiB, "GiB"),
        >= MiB => Fmt(bytes, MiB, "MiB"),
        >= KiB => Fmt(bytes, KiB, "KiB"),
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    private static string Fmt(long bytes, long unit, string name) =>
        (bytes / (double)unit).ToString("0.##", CultureInfo.InvariantCulture) + " " + name;
}
