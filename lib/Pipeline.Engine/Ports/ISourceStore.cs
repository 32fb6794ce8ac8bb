namespace Pipeline.Engine.Ports;

/// <summary>
/// One file of an audience snapshot as its store lists it: where it is (a path or a URL), its length in bytes, and its
/// version (a blob's ETag; a local file's length and last write time), which pins a run to the content it listed.
/// </summary>
public sealed record SourceEntry(string Location, long Length, string? Version = null);

/// <summary>
/// Where audience snapshots are read from: local files, or blobs in Azure Storage. The engine lists a snapshot's
/// files, streams CSV and CSV.gz files from start to end, and reads only the byte ranges it needs of Parquet files
/// (the footer, then the column chunks an export uses). Problems the user must fix (a missing file, access refused)
/// are <see cref="Sources.SourceException"/>s naming the location and the fix; a transient failure (a timeout, a
/// dropped connection) is an <see cref="IOException"/>, so the stage is retried.
/// </summary>
public interface ISourceStore
{
    /// <summary>Whether this store reads <paramref name="location"/> (a local path, or a URL of its kind).</summary>
    bool Accepts(string location);

    /// <summary>
    /// The snapshot's files: the file itself when <paramref name="location"/> names one, else the .csv, .csv.gz, .txt,
    /// .tsv and .parquet files directly under the folder or prefix (names starting with '.' or '_' skipped), in ordinal
    /// order by location, so plans and outputs are reproducible. Never empty: nothing there is a SourceException.
    /// </summary>
    Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken);

    /// <summary>
    /// A sequential read stream over the whole file. With a <paramref name="version"/> (the one <see cref="ListAsync"/>
    /// gave), a file that has changed since is refused with a <see cref="Sources.SourceException"/> (<see cref="Sources.SourceException.IsChanged"/>):
    /// an export never mixes two versions of a snapshot. Null reads whatever is there.
    /// </summary>
    Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken);

    /// <summary>
    /// Reads the file's bytes from <paramref name="offset"/> into <paramref name="buffer"/>, filling it: fewer bytes
    /// only at the end of the file (0 at or past it). Returns how many were read. <paramref name="version"/> as for
    /// <see cref="OpenReadAsync"/>.
    /// </summary>
    ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken);
}
