namespace Pipeline.Engine.Configuration;

/// <summary>One thing wrong with pipeline.json: where (a JSON path), what, and how to fix it.</summary>
public sealed record ConfigProblem(string Path, string Message, string Fix)
{
    public override string ToString() => $"{Path}: {Message} Fix: {Fix}";
}

/// <summary>Thrown when a config has problems; carries all of them, not just the first.</summary>
public sealed class ConfigException(string file, IReadOnlyList<ConfigProblem> problems)
    : Exception($"{file}: {problems.Count} problem(s) in the configuration:" + Environment.NewLine +
                string.Join(Environment.NewLine, problems.Select(p => "  " + p)))
{
    public string File { get; } = file;
    public IReadOnlyList<ConfigProblem> Problems { get; } = problems;
}
