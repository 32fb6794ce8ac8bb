using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Sources;

/// <summary>
/// One file of an audience snapshot. A slice of the export plan reads one of these. <paramref name="Path"/> is where its
/// store finds it: a local path or a blob URL (never with a query: see <see cref="SourceLocation.UrlProblem"/>).
/// <paramref name="Version"/> is what its store listed (<see cref="SourceEntry.Version"/>): reads are pinned to it.
/// </summary>
public sealed record SourceFile(string Path, long Length, SourceFormat Format, bool Gzip, string? Version = null);

/// <summary>A problem with the snapshot itself: missing file, unknown column, unreadable data.</summary>
public sealed class SourceException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The file, folder or blob is not there (a <see cref="FileNotFoundException"/> or <see cref="DirectoryNotFoundException"/> inside).</summary>
    public bool IsNotFound => InnerException is FileNotFoundException or DirectoryNotFoundException;

    /// <summary>The file is not the version the run listed: it was replaced or written to while the export ran.</summary>
    public bool IsChanged { get; private init; }

    /// <summary>
    /// <paramref name="location"/> changed after the run listed it. The attempt stops rather than export a mix of two
    /// versions; a new attempt lists the snapshot again.
    /// </summary>
    public static SourceException Changed(string location, Exception? inner = null) =>
        new($"The source file {SourceLocation.Display(location)} changed while the export read it (it was replaced or written to after the run listed it). " +
            "The export stops rather than mix two versions of the snapshot. Fix: write a snapshot under a new name instead of replacing it while exports run; " +
            "a retry of the run (automatic under the activation's retry policy, or `pipeline retry RUN_ID`) reads the snapshot as it is then.", inner)
        { IsChanged = true };
}

/// <summary>
/// The source could not be read just now (a timeout, a dropped connection, a busy server): unlike a
/// <see cref="SourceException"/> the file is not at fault, and the stage is retried.
/// </summary>
public sealed class SourceUnavailableException(string message, Exception? inner = null) : IOException(message, inner);

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
    /// <summary>The snapshot's local files in a stable order (ordinal by name), so plans and outputs are reproducible.</summary>
    public static IReadOnlyList<SourceFile> ListFiles(SourceSpec source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return FileSourceStore.List(source.Path).Select(e => Describe(e, source.Format)).ToList();
    }

    /// <summary>The snapshot's files in <paramref name="store"/> (local or blob), in its stable order.</summary>
    public static async Task<IReadOnlyList<SourceFile>> ListFilesAsync(ISourceStore store, SourceSpec source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(source);
        var entries = await store.ListAsync(source.Path, cancellationToken);
        return entries.Select(e => Describe(e, source.Format)).ToList();
    }

    /// <summary>A local file, measured now.</summary>
    public static SourceFile Describe(string path, SourceFormat declared) => Describe(FileSourceStore.Entry(path), declared);

    public static SourceFile Describe(SourceEntry entry, SourceFormat declared)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var name = SourceLocation.Name(entry.Location);
        var format = declared != SourceFormat.Auto ? declared : DetectFormat(name)
            ?? throw new SourceException($"Cannot tell the format of {SourceLocation.Display(entry.Location)} from its name; set \"format\": \"csv\" or \"parquet\" on the source.");
        var gzip = name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        return new SourceFile(entry.Location, entry.Length, format, gzip, entry.Version);
    }

    /// <summary>Whether a file in a snapshot folder (or under a blob prefix) is part of it: a known extension, not hidden ('.') or internal ('_', as Spark's _SUCCESS).</summary>
    public static bool IsSnapshotFile(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Length > 0 && !name.StartsWith('.') && !name.StartsWith('_') && DetectFormat(name) is not null;
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
