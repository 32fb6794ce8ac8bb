using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Engine.Ports;

namespace Pipeline.Azure.Storage;

/// <summary>
/// Staging in a blob container (<see cref="ContainerName"/>): one block blob per staging key. A block blob becomes
/// visible only when it is committed whole (one Put Blob, or Put Block List after staging blocks), so a reader never
/// sees half an object and an overwrite replaces the old content at once.
/// </summary>
public sealed class BlobStagingStore : IStagingStore
{
    public const string ContainerName = "staging";

    /// <summary>Deletes in flight at once when a run's staging is removed (thousands of chunks for a large export).</summary>
    public const int DeleteConcurrency = 32;

    private readonly BlobContainerClient _container;
    private volatile bool _exists;

    public BlobStagingStore(BlobServiceClient service, string containerName = ContainerName)
    {
        ArgumentNullException.ThrowIfNull(service);
        _container = service.GetBlobContainerClient(containerName);
    }

    public BlobStagingStore(BlobContainerClient container) => _container = container ?? throw new ArgumentNullException(nameof(container));

    public Uri ContainerUri => _container.Uri;

    private static BlobUploadOptions Upload => new()
    {
        TransferOptions = new global::Azure.Storage.StorageTransferOptions { InitialTransferSize = 8 * 1024 * 1024, MaximumTransferSize = 8 * 1024 * 1024 },
    };

    public async Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        await EnsureContainerAsync(cancellationToken);
        try
        {
            // Blocks of at most 8 MiB, each a request of its own, so every request fits the 30 s network timeout
            // (StorageOutage.WithRetries) on a slow uplink too; the block list commits them all at once, or none.
            await _container.GetBlobClient(key).UploadAsync(BinaryData.FromBytes(content), Upload, cancellationToken);
        }
        catch (RequestFailedException e)
        {
            throw new IOException($"Cannot write staging blob {_container.Name}/{key} in {_container.AccountName}: {e.Status} {e.ErrorCode}.", e);
        }
    }

    public async Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0) return Stream.Null;
        try
        {
            // One ranged GET: the stream ends after exactly the requested bytes (or at the end of the blob).
            var response = await _container.GetBlobClient(key).DownloadStreamingAsync(
                new BlobDownloadOptions { Range = new HttpRange(offset, length) }, cancellationToken);
            return response.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new FileNotFoundException($"Staging blob {_container.Name}/{key} does not exist in {_container.AccountName}.", key, e);
        }
        catch (RequestFailedException e) when (e.Status == 416)
        {
            throw new IOException($"Staging blob {_container.Name}/{key} is shorter than offset {offset}.", e);
        }
    }

    public async Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var properties = await _container.GetBlobClient(key).GetPropertiesAsync(cancellationToken: cancellationToken);
            return properties.Value.ContentLength;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        try
        {
            await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix }, cancellationToken))
                names.Add(item.Name);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return; // no container yet: nothing was ever staged
        }
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = DeleteConcurrency, CancellationToken = cancellationToken },
            async (name, ct) => await _container.GetBlobClient(name).DeleteIfExistsAsync(cancellationToken: ct));
    }

    /// <summary>
    /// Deletes staging blobs last written before <paramref name="writtenBefore"/>, except those under a prefix in
    /// <paramref name="keepPrefixes"/> (runs still in progress): what a run that died without cleaning up left behind.
    /// Returns how many it deleted.
    /// </summary>
    public async Task<int> DeleteOlderThanAsync(DateTimeOffset writtenBefore, IReadOnlyCollection<string> keepPrefixes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keepPrefixes);
        var names = new List<string>();
        try
        {
            await foreach (var item in _container.GetBlobsAsync(cancellationToken: cancellationToken))
            {
                if (item.Properties.LastModified is { } written && written < writtenBefore
                    && !keepPrefixes.Any(p => item.Name.StartsWith(p, StringComparison.Ordinal)))
                    names.Add(item.Name);
            }
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return 0; // no container yet: nothing was ever staged
        }
        var deleted = 0;
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = DeleteConcurrency, CancellationToken = cancellationToken },
            async (name, ct) =>
            {
                // Only if unchanged since listed: a blob rewritten meanwhile belongs to live work.
                var conditions = new BlobRequestConditions { IfUnmodifiedSince = writtenBefore };
                try
                {
                    if ((await _container.GetBlobClient(name).DeleteIfExistsAsync(conditions: conditions, cancellationToken: ct)).Value)
                        Interlocked.Increment(ref deleted);
                }
                catch (RequestFailedException e) when (e.Status == 412) { }
            });
        return deleted;
    }

    /// <summary>Creates the container once per store (concurrent first writers may both ask: harmless); a deployment normally has made it.</summary>
    private async Task EnsureContainerAsync(CancellationToken cancellationToken)
    {
        if (_exists) return;
        try
        {
            await _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            _exists = true;
        }
        catch (RequestFailedException e)
        {
            throw new IOException($"Cannot create or open the staging container {_container.Name} in {_container.AccountName}: {e.Status} {e.ErrorCode}. " +
                "Fix: create it, or grant the identity Storage Blob Data Contributor on the account.", e);
        }
    }
}
