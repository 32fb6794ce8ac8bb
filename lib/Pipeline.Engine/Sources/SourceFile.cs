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

public static class SourceColumns
{
    /// <summary>Two columns of one name make "email" ambiguous: which one an export reads would be an accident.</summary>
    public static void RejectDuplicates(string file, IReadOnlyList<string> columns)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < columns.Count; i++)
        {
            if (seen.TryAdd(columns[i], i)) continue;
            throw new SourceException($"{file}: columns {seen[columns[i]] + 1} and {i + 1} are both named \"{columns[i]}\"; every column needs its own name. Rename one in the source.");
        }
    }
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
        return new SourceFile(System.IO.Path.GetFullPath(path), new FileInfo(path).Length, format, gzip);
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

/// <summary>
/// Source text must be UTF-8 without NUL bytes: output files and manifests declare UTF-8, and a replaced character in
/// an email or id is wrong data, so a row holding either is malformed (and the fail/skip policy decides).
/// </summary>
public static class SourceText
{
    public static bool IsValid(ReadOnlySpan<byte> text) => !text.Contains((byte)0) && System.Text.Unicode.Utf8.IsValid(text);

    /// <summary>Why <paramref name="text"/> is not valid source text, naming the 1-based byte; null when it is.</summary>
    public static string? Problem(ReadOnlySpan<byte> text, string of = "row")
    {
        for (var i = 0; i < text.Length;)
        {
            if (text[i] == 0) return $"byte {i + 1} of the {of} is a NUL (0x00)";
            if (System.Text.Rune.DecodeFromUtf8(text[i..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
                return $"byte {i + 1} of the {of} (0x{text[i]:X2}) is not valid UTF-8; the source must be UTF-8";
            i += consumed;
        }
        return null;
    }

    /// <summary>For text Parquet.Net decoded (invalid bytes became U+FFFD): why it is not valid, or null.</summary>
    public static string? Problem(string? text)
    {
        if (text is null) return null;
        var at = text.AsSpan().IndexOfAny('\0', '\uFFFD');
        if (at < 0) return null;
        return text[at] == '\0' ? $"character {at + 1} is a NUL (U+0000)" : $"character {at + 1} is U+FFFD, the mark of bytes that are not valid UTF-8";
    }
}
