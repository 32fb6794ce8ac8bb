using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Sources;

/// <summary>
/// Snapshots on the local file system. It lives in the engine, not in Pipeline.Local, because the engine must work on
/// paths without adapters: it is <see cref="Runs.ExportStages"/>' default and what the readers' path-based entry points,
/// tests and benchmarks use, and it needs nothing beyond System.IO. Ranged reads are positional reads on the file
/// (<see cref="RandomAccess"/>), done synchronously as before the port: the page cache answers them. A file's version is
/// its length and last write time, as make and rsync judge a change: checked on the open handle before every read.
/// </summary>
public sealed class FileSourceStore : ISourceStore
{
    public static FileSourceStore Instance { get; } = new();

    public bool Accepts(string location) => !SourceLocation.IsUrl(location);

    public Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken) =>
        Task.FromResult(List(location));

    /// <summary><see cref="ListAsync"/> without the task: listing a folder does not wait on anything worth awaiting.</summary>
    public static IReadOnlyList<SourceEntry> List(string location)
    {
        RejectUrl(location);
        if (File.Exists(location)) return [Entry(location)];
        if (!Directory.Exists(location))
            throw new SourceException($"The audience snapshot {location} does not exist. Check the source path, or create sample data with `pipeline sample`.",
                new FileNotFoundException(null, location));
        var files = Directory.EnumerateFiles(location)
            .Where(f => SourceCatalog.IsSnapshotFile(Path.GetFileName(f)))
            .Order(StringComparer.Ordinal)
            .Select(Entry)
            .ToList();
        if (files.Count == 0)
            throw new SourceException($"The folder {location} holds no .csv, .csv.gz, .txt, .tsv or .parquet files.");
        return files;
    }

    /// <summary>The file's full path, length and version; a symlinked snapshot is measured by its target (the link itself is a few bytes).</summary>
    public static SourceEntry Entry(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target) info = target;
        return new SourceEntry(Path.GetFullPath(path), info.Length, VersionOf(info.Length, info.LastWriteTimeUtc));
    }

    private static string VersionOf(long length, DateTime lastWriteUtc) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{length}@{lastWriteUtc.Ticks}");

    public Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken)
    {
        RejectUrl(location);
        FileStream stream;
        try
        {
            stream = new FileStream(location, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CannotOpen(location, e);
        }
        try
        {
            ThrowIfChanged(location, version, stream.SafeFileHandle);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        return Task.FromResult<Stream>(stream);
    }

    public ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        RejectUrl(location);
        if (buffer.IsEmpty) return ValueTask.FromResult(0);
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(location, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CannotOpen(location, e);
        }
        using (handle)
        {
            ThrowIfChanged(location, version, handle);
            var read = 0;
            while (read < buffer.Length)
            {
                var n = RandomAccess.Read(handle, buffer.Span[read..], offset + read);
                if (n == 0) break;
                read += n;
            }
            return ValueTask.FromResult(read);
        }
    }

    /// <summary>The open file (the one read from here on, even if the path is replaced later) against the version listed.</summary>
    private static void ThrowIfChanged(string location, string? version, Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        if (version is null) return;
        if (VersionOf(RandomAccess.GetLength(handle), File.GetLastWriteTimeUtc(handle)) != version) throw SourceException.Changed(location);
    }

    /// <summary>A URL would otherwise be "a file that does not exist", which sends the user looking in the wrong place.</summary>
    internal static void RejectUrl(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        if (SourceLocation.IsUrl(location))
            throw new SourceException($"The audience snapshot {SourceLocation.Display(location)} is a URL, and this host reads local files only. " +
                                      "Copy the snapshot to a local folder, or run the export with the Azure source store (the pipeline CLI reads blob URLs).");
    }

    private static SourceException CannotOpen(string location, Exception e) => new($"Cannot open {location}: {e.Message}", e);
}
