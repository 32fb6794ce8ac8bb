using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.Engine.Formatting;

/// <summary>
/// Object names from a template such as "{activation}/{runTime:yyyyMMdd}/part-{index:4}{ext}".
/// Tokens: {activation}, {segment}, {runId}, {runTime:FORMAT} (UTC, .NET date format),
/// {index:N} (1-based, zero-padded to N digits), {ext} (".csv.gz", ".txt", ...; appended when absent).
/// A template can't leave its destination: no "..", no absolute paths, no backslashes.
/// </summary>
public sealed partial class FileNameTemplate
{
    private readonly string _template;

    private FileNameTemplate(string template) => _template = template;

    [GeneratedRegex(@"\{(?<name>[a-zA-Z]+)(:(?<arg>[^}]*))?\}")]
    private static partial Regex TokenPattern();

    public static readonly IReadOnlySet<string> Tokens = new HashSet<string>(StringComparer.Ordinal) { "activation", "segment", "runId", "runTime", "index", "ext" };

    /// <summary>Checks a template; returns null and the reason when it is unusable.</summary>
    public static FileNameTemplate? TryParse(string template, out string? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(template)) { error = "is empty"; return null; }
        if (template.StartsWith('/') || template.Contains('\\', StringComparison.Ordinal) || Path.IsPathRooted(template))
        { error = "must be a relative name (no leading '/', no '\\')"; return null; }
        var hasIndex = false;
        foreach (Match m in TokenPattern().Matches(template))
        {
            var name = m.Groups["name"].Value;
            if (!Tokens.Contains(name)) { error = $"has an unknown token {{{name}}}; known: {string.Join(", ", Tokens.Select(t => "{" + t + "}"))}"; return null; }
            var arg = m.Groups["arg"].Value;
            if (name == "index")
            {
                hasIndex = true;
                if (arg.Length > 0 && (!int.TryParse(arg, CultureInfo.InvariantCulture, out var w) || w is < 1 or > 9)) { error = "{index:N} needs N from 1 to 9"; return null; }
            }
            if (name == "runTime")
            {
                try { _ = DateTime.UnixEpoch.ToString(arg, CultureInfo.InvariantCulture); }
                catch (FormatException) { error = $"{{runTime:{arg}}} is not a valid date format"; return null; }
            }
        }
        if (!hasIndex) { error = "must contain {index}, or files of a split export would overwrite each other"; return null; }
        var literal = TokenPattern().Replace(template, "x");
        if (literal.Contains('{', StringComparison.Ordinal) || literal.Contains('}', StringComparison.Ordinal)) { error = "has an unclosed '{' or stray '}'"; return null; }
        foreach (var segment in literal.Split('/'))
        {
            if (segment.Length == 0) { error = "has an empty path segment ('//' or a trailing '/')"; return null; }
            if (segment is "." or "..") { error = "must not contain '.' or '..' path segments"; return null; }
        }
        // A date format can hold quoted literals ('..'/'..'), so check a rendered name with the rule Render applies.
        var parsed = new FileNameTemplate(template);
        var sample = parsed.RenderUnchecked("activation", "segment", "run-id", SampleSlot, 1, ".csv.gz");
        if (UnsafeSegment(sample) is { } bad)
        {
            error = $"renders to \"{sample}\" (slot {SampleSlot:yyyy-MM-dd HH:mm:ss} UTC), which has {bad}: a file name must stay inside its destination, " +
                    "so quote no '.', '..' or '/' in {runTime:...}";
            return null;
        }
        return parsed;
    }

    // A slot with two-digit day, hour, minute and second values, so every format token renders in full.
    private static readonly DateTimeOffset SampleSlot = new(2026, 12, 31, 23, 59, 58, TimeSpan.Zero);

    /// <summary>What makes a rendered name unsafe (an empty, "." or ".." segment), or null when it is a safe relative name.</summary>
    private static string? UnsafeSegment(string name) =>
        name.Split('/').FirstOrDefault(s => s is "" or "." or "..") is { } s ? (s.Length == 0 ? "an empty path segment" : $"a '{s}' path segment") :
        name.StartsWith('/') || name.Contains('\\', StringComparison.Ordinal) ? "an absolute path or '\\'" : null;

    public static FileNameTemplate Parse(string template) =>
        TryParse(template, out var error) ?? throw new ArgumentException($"File name template \"{template}\" {error}.", nameof(template));

    public string Render(string activationId, string segmentId, string runId, DateTimeOffset runTime, int index, string extension)
    {
        var result = RenderUnchecked(activationId, segmentId, runId, runTime, index, extension);
        // Values come from validated ids, but a date format could still produce odd characters.
        if (UnsafeSegment(result) is not null) throw new InvalidOperationException($"File name \"{result}\" from template \"{_template}\" is not a safe relative name.");
        return result;
    }

    private string RenderUnchecked(string activationId, string segmentId, string runId, DateTimeOffset runTime, int index, string extension)
    {
        var hasExt = false;
        var name = TokenPattern().Replace(_template, m =>
        {
            var arg = m.Groups["arg"].Value;
            switch (m.Groups["name"].Value)
            {
                case "activation": return activationId;
                case "segment": return segmentId;
                case "runId": return runId;
                case "runTime": return runTime.UtcDateTime.ToString(arg.Length > 0 ? arg : "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
                case "index": return index.ToString(CultureInfo.InvariantCulture).PadLeft(arg.Length > 0 ? int.Parse(arg, CultureInfo.InvariantCulture) : 1, '0');
                default: hasExt = true; return extension;
            }
        });
        var sb = new StringBuilder(name);
        if (!hasExt) sb.Append(extension);
        return sb.ToString();
    }

    public override string ToString() => _template;
}
