namespace Pipeline.Engine.Configuration;

/// <summary>"Did you mean" hints for mistyped names: properties, columns, commands.</summary>
public static class NameHints
{
    /// <summary>The candidate a typo most likely meant (same letters ignoring case, or at most 2 edits away), for "did you mean" hints.</summary>
    public static string? Nearest(string name, IEnumerable<string> candidates)
    {
        var list = candidates as IReadOnlyCollection<string> ?? candidates.ToList();
        return list.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase))
               ?? list.Where(k => Distance(k.ToLowerInvariant(), name.ToLowerInvariant()) <= 2).OrderBy(k => Distance(k, name)).FirstOrDefault();
    }

    /// <summary>Edit distance (insert, delete, substitute, swap neighbours), for "did you mean" hints.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        for (var j = 1; j <= b.Length; j++)
        {
            var cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
        }
        return d[a.Length, b.Length];
    }
}
