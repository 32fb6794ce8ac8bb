namespace Pipeline.Engine.Configuration;

/// <summary>One thing wrong with pipeline.json: where (a JSON path), what, and how to fix it.</summary>
public sealed record ConfigProblem(string Path, string Message, string Fix)
{
    /// <summary>One "Fix:" per line, also when the message (an S3 error) already carries its own.</summary>
    public override string ToString()
    {
        var fix = Fix.StartsWith("Fix:", StringComparison.Ordinal) ? Fix[4..].TrimStart() : Fix;
        if (!Message.Contains("Fix:", StringComparison.Ordinal)) return $"{Path}: {Message} Fix: {fix}";
        return Message.Contains(fix, StringComparison.Ordinal) || fix.Length == 0 ? $"{Path}: {Message}" : $"{Path}: {Message} Also: {fix}";
    }
}

/// <summary>Thrown when a config has problems; carries all of them, not just the first.</summary>
public sealed class ConfigException(string file, IReadOnlyList<ConfigProblem> problems)
    : Exception($"{file}: {problems.Count} problem(s) in the configuration:" + Environment.NewLine +
                string.Join(Environment.NewLine, problems.Select(p => "  " + p)))
{
    public string File { get; } = file;
    public IReadOnlyList<ConfigProblem> Problems { get; } = problems;
}
