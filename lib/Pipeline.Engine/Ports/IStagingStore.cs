namespace Pipeline.Engine.Ports;

/// <summary>
/// Where built chunks wait until their file is delivered: a local folder, or a blob container in Azure.
/// Writes are all-or-nothing: a reader never sees half an object.
/// </summary>
public interface IStagingStore
{
    Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>A stream over the whole object, or over <paramref name="length"/> bytes from <paramref name="offset"/>.</summary>
    Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken);

    Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken);

    /// <summary>Deletes every object whose key starts with <paramref name="prefix"/>.</summary>
    Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken);
}
