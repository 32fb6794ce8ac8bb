using System.Globalization;
using System.Text.Json;

namespace Pipeline.Engine.Configuration;

/// <summary>
/// Reads one JSON object of the config while remembering its JSON path, so every problem can be
/// reported with the exact place to fix. Unknown properties are problems too (typos otherwise go unnoticed).
/// </summary>
internal sealed class JsonSection
{
    private readonly JsonElement _element;
    private readonly List<ConfigProblem> _problems;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public JsonSection(JsonElement element, string path, List<ConfigProblem> problems)
    {
        _element = element;
        Path = path;
        _problems = problems;
    }

    public string Path { get; }

    public string At(string name) => Path + "." + name;

    public void Problem(string name, string message, string fix) => _problems.Add(new ConfigProblem(At(name), message, fix));

    public bool Has(string name)
    {
        _known.Add(name);
        return _element.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;
    }

    public JsonElement? Raw(string name)
    {
        _known.Add(name);
        return _element.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
    }

    public string? String(string name, bool required = false, string? fix = null)
    {
        var v = Raw(name);
        if (v is null)
        {
            if (required) Problem(name, "is required.", fix ?? $"Add \"{name}\".");
            return null;
        }
        if (v.Value.ValueKind != JsonValueKind.String)
        {
            Problem(name, $"must be a string, not {Describe(v.Value)}.", fix ?? $"Write \"{name}\" as a quoted string.");
            return null;
        }
        var s = v.Value.GetString()!;
        if (required && string.IsNullOrWhiteSpace(s))
        {
            Problem(name, "must not be empty.", fix ?? $"Give \"{name}\" a value.");
            return null;
        }
        return s;
    }

    public bool? Bool(string name)
    {
        var v = Raw(name);
        if (v is null) return null;
        if (v.Value.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.Value.GetBoolean();
        Problem(name, $"must be true or false, not {Describe(v.Value)}.", $"Write \"{name}\": true or false.");
        return null;
    }

    public int? Int(string name, int min, int max)
    {
        var v = Raw(name);
        if (v is null) return null;
        if (v.Value.ValueKind == JsonValueKind.Number && v.Value.TryGetInt32(out var n) && n >= min && n <= max) return n;
        Problem(name, $"must be a whole number from {min} to {max}, not {Describe(v.Value)}.", $"Set \"{name}\" to a number between {min} and {max}.");
        return null;
    }

    public double? Number(string name, double min, double max)
    {
        var v = Raw(name);
        if (v is null) return null;
        if (v.Value.ValueKind == JsonValueKind.Number && v.Value.TryGetDouble(out var n) && n >= min && n <= max) return n;
        Problem(name, $"must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, not {Describe(v.Value)}.", $"Set \"{name}\" to a number such as 0.01 (1%).");
        return null;
    }

    public long? Size(string name, long min, long max)
    {
        var v = Raw(name);
        if (v is null) return null;
        long bytes;
        var ok = v.Value.ValueKind switch
        {
            JsonValueKind.Number => v.Value.TryGetInt64(out bytes),
            JsonValueKind.String => ByteSize.TryParse(v.Value.GetString(), out bytes),
            _ => (bytes = 0) != 0,
        };
        if (!ok)
        {
            Problem(name, $"is not a size: {Describe(v.Value)}.", $"Write a size such as \"512MiB\", \"10GB\" or \"1TB\".");
            return null;
        }
        if (bytes < min || bytes > max)
        {
            Problem(name, $"is {ByteSize.Format(bytes)}, outside {ByteSize.Format(min)} to {ByteSize.Format(max)}.", $"Choose a size between {ByteSize.Format(min)} and {ByteSize.Format(max)}.");
            return null;
        }
        return bytes;
    }

    public TEnum? Enum<TEnum>(string name) where TEnum : struct, System.Enum
    {
        var s = String(name);
        if (s is null) return null;
        if (System.Enum.TryParse<TEnum>(s, ignoreCase: true, out var value) && !int.TryParse(s, CultureInfo.InvariantCulture, out _)) return value;
        var allowed = string.Join(", ", System.Enum.GetNames<TEnum>().Select(n => $"\"{n.ToLowerInvariant()}\""));
        Problem(name, $"\"{s}\" is not one of {allowed}.", $"Use one of {allowed}.");
        return null;
    }

    public JsonSection? Object(string name, bool required = false)
    {
        var v = Raw(name);
        if (v is null)
        {
            if (required) Problem(name, "is required.", $"Add an object \"{name}\": {{ ... }}.");
            return null;
        }
        if (v.Value.ValueKind != JsonValueKind.Object)
        {
            Problem(name, $"must be an object, not {Describe(v.Value)}.", $"Write \"{name}\": {{ ... }}.");
            return null;
        }
        return new JsonSection(v.Value, At(name), _problems);
    }

    public IEnumerable<(string Name, JsonSection Section)> ObjectEntries()
    {
        foreach (var p in _element.EnumerateObject())
        {
            var path = Path + "." + p.Name;
            if (p.Value.ValueKind != JsonValueKind.Object)
            {
                _problems.Add(new ConfigProblem(path, $"must be an object, not {Describe(p.Value)}.", "Write it as { ... }."));
                continue;
            }
            yield return (p.Name, new JsonSection(p.Value, path, _problems));
        }
    }

    public IEnumerable<(string Path, JsonElement Element)> Array(string name, bool required = false)
    {
        var v = Raw(name);
        if (v is null)
        {
            if (required) Problem(name, "is required.", $"Add a list \"{name}\": [ ... ].");
            yield break;
        }
        if (v.Value.ValueKind != JsonValueKind.Array)
        {
            Problem(name, $"must be a list, not {Describe(v.Value)}.", $"Write \"{name}\": [ ... ].");
            yield break;
        }
        var i = 0;
        foreach (var item in v.Value.EnumerateArray()) yield return ($"{At(name)}[{i++}]", item);
    }

    public JsonSection Child(JsonElement element, string path) => new(element, path, _problems);

    /// <summary>Report properties nobody asked for: almost always a typo.</summary>
    public void RejectUnknown()
    {
        foreach (var p in _element.EnumerateObject())
        {
            if (_known.Contains(p.Name)) continue;
            var near = _known.FirstOrDefault(k => string.Equals(k, p.Name, StringComparison.OrdinalIgnoreCase))
                       ?? _known.Where(k => Distance(k.ToLowerInvariant(), p.Name.ToLowerInvariant()) <= 2).OrderBy(k => Distance(k, p.Name)).FirstOrDefault();
            var fix = near is not null ? $"Did you mean \"{near}\"?" : $"Remove it; known properties here: {string.Join(", ", _known.Order(StringComparer.Ordinal))}.";
            _problems.Add(new ConfigProblem(Path + "." + p.Name, "is not a known property.", fix));
        }
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

    public static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"\"{v.GetString()}\"",
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
        _ => "null",
    };
}
