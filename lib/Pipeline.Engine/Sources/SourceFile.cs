using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Sources;

/// <summary>One file of an audience snapshot. A slice of the export plan reads one of these.</summary>
public sealed record SourceFile(string Path, long Length, SourceFormat Format, bool Gzip);

/// <summary>A problem with the snapshot itself: missing file, unknown column, unreadable data.</summary>
public sealed class SourceException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A row that cannot be read. Names the file and the line (CSV) or row (Parquet).</summary>
public sealed class MalformedRowException(string file, long line, string reason)
    : Exception($"{file}, line {line}: {reason}")
{
    public string File { get; } = file;
    public long Line { get; } = line;
    public string Reason { get; } = reason;
}

public static class SourceCatalog
{
    /// <summary>The snapshot's files in a stable order (ordinal by name), so plans and outputs are reproducible.</summary>
    public static IReadOnlyList<SourceFile> ListFiles(SourceSpec source)
    {
        if (File.Exists(source.Path)) return [Describe(source.Path, source.Format)];
        if (!Directory.Exists(source.Path))
            throw new SourceException($"The audience snapshot {source.Path} does not exist. Check the source path, or create sample data with `pipeline sample`.");
        var files = Directory.EnumerateFiles(source.Path)
            .Where(f => !System.IO.Path.GetFileName(f).StartsWith('.') && !System.IO.Path.GetFileName(f).StartsWith('_'))
            .Where(f => DetectFormat(f) is not null)
            .Order(StringComparer.Ordinal)
            .Select(f => Describe(f, source.Format))
            .ToList();
        if (files.Count == 0)
            throw new SourceException($"The folder {source.Path} holds no .csv, .csv.gz, .txt, .tsv or .parquet files.");
        return files;
    }

    public static SourceFile Describe(string path, SourceFormat declared)
    {
        var format = declared != SourceFormat.Auto ? declared : DetectFormat(path)
            ?? throw new SourceException($"Cannot tell the format of {path} from its name; set \"format\": \"csv\" or \"parquet\" on the source.");
        var gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        var info = new FileInfo(path);
        // A symlinked snapshot is measured by its target: the link itself is a few bytes.
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target) info = target;
        return new SourceFile(System.IO.Path.GetFullPath(path), info.Length, format, gzip);
    }

    private static SourceFormat? DetectFormat(string path)
    {
        var name = path.ToLowerInvariant();
        if (name.EndsWith(".gz", StringComparison.Ordinal)) name = name[..^3];
        return System.IO.Path.GetExtension(name) switch
        {
            ".csv" or ".txt" or ".tsv" => SourceFormat.Csv,
            ".parquet" => SourceFormat.Parquet,
            _ => null,
        };
    }
}
