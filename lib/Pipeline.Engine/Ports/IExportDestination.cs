namespace Pipeline.Engine.Ports;

/// <summary>A part that has reached the destination: what completion needs to stitch the file together.</summary>
public sealed record PartReceipt(int PartNumber, long Offset, long Length, string ETag, string Sha256Base64);

/// <summary>Object metadata set when a file is started.</summary>
public sealed record ObjectProperties(string ContentType, string? ContentEncoding);

/// <summary>Fills <paramref name="destination"/> with a part's bytes, starting <paramref name="partOffset"/> bytes into the part.</summary>
public delegate Task PartReader(long partOffset, Memory<byte> destination, CancellationToken cancellationToken);

/// <summary>
/// Where export files are delivered, with multipart semantics: a file is started, its parts arrive in any
/// order (possibly twice, with identical bytes), and it becomes visible under its name only when completed.
/// A local folder, or an S3 bucket.
/// </summary>
public interface IExportDestination
{
    /// <summary>A human-readable location for messages, e.g. "/data/out/vip/" or "s3://bucket/prefix/".</summary>
    string Describe(string key);

    /// <summary>The part sizes, part count and file size this destination accepts; the engine cuts files to fit them.</summary>
    PartLimits PartLimits { get; }

    /// <summary>Starts a file of <paramref name="length"/> bytes; returns the upload id to record (small files may be sent in one request).</summary>
    Task<string> StartFileAsync(string key, long length, ObjectProperties properties, CancellationToken cancellationToken);

    /// <summary>
    /// Starts run <paramref name="runId"/>'s file. A destination that names its own uploads derives the name from run and
    /// key, so starting the same file again (a restart before the id was recorded) reuses the upload instead of leaving
    /// one behind; by default the destination assigns the id, as S3 does.
    /// </summary>
    Task<string> StartFileAsync(string runId, string key, long length, ObjectProperties properties, CancellationToken cancellationToken) =>
        StartFileAsync(key, length, properties, cancellationToken);

    /// <summary>
    /// Aborts the uploads of <paramref name="key"/> that run <paramref name="runId"/> may have started but never recorded:
    /// every one except <paramref name="keepUploadId"/> (all of them when null). A destination that cannot list its
    /// uploads leaves them to the stale-upload sweep.
    /// </summary>
    Task AbortUnrecordedAsync(string runId, string key, string? keepUploadId, CancellationToken cancellationToken);

    Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>
    /// Uploads a part of <paramref name="length"/> bytes that <paramref name="read"/> supplies. By default the part is
    /// read whole into a pooled buffer (S3 signs and retries whole parts); a destination that can write as it reads
    /// overrides this, so its memory doesn't grow with the part size.
    /// </summary>
    async Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, long length, PartReader read, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(checked((int)length));
        try
        {
            var content = buffer.AsMemory(0, (int)length);
            await read(0, content, cancellationToken);
            return await UploadPartAsync(key, uploadId, partNumber, offset, content, cancellationToken);
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>Publishes the file. Completing an already completed upload with the same parts succeeds.</summary>
    Task CompleteFileAsync(string key, string uploadId, IReadOnlyList<PartReceipt> parts, long length, CancellationToken cancellationToken);

    /// <summary>Discards an unfinished upload; nothing becomes visible. Aborting an unknown upload succeeds.</summary>
    Task AbortFileAsync(string key, string uploadId, CancellationToken cancellationToken);

    /// <summary>Writes a small object (the manifest) in one request, all or nothing.</summary>
    Task PutObjectAsync(string key, ReadOnlyMemory<byte> content, ObjectProperties properties, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);
}

/// <summary>Opens destinations by their spec; adapters register themselves by type ("local", "s3").</summary>
public interface IDestinationFactory
{
    bool CanOpen(string type);

    IExportDestination Open(Configuration.DestinationSpec spec);
}

/// <summary>Tries each factory in turn, so the CLI and the Functions app compose the adapters they ship with.</summary>
public sealed class DestinationFactories(params IDestinationFactory[] factories) : IDestinationFactory
{
    public bool CanOpen(string type) => factories.Any(f => f.CanOpen(type));

    public IExportDestination Open(Configuration.DestinationSpec spec) =>
        factories.FirstOrDefault(f => f.CanOpen(spec.Type))?.Open(spec)
        ?? throw new DestinationException($"Destination \"{spec.Name}\" has type \"{spec.Type}\", which this build cannot deliver to.");
}

/// <summary>An error a user can fix at the destination (no space, no permission, wrong bucket).</summary>
public sealed class DestinationException(string message, Exception? inner = null) : Exception(message, inner);
