using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Sources;

/// <summary>
/// The source stores a host has, picked by location: the first that accepts it reads it (local files, blob URLs). The
/// engine sees one <see cref="ISourceStore"/>; a location no store accepts is a <see cref="SourceException"/> naming it.
/// </summary>
public sealed class SourceStores : ISourceStore
{
    private readonly ISourceStore[] _stores;

    public SourceStores(params IEnumerable<ISourceStore> stores)
    {
        ArgumentNullException.ThrowIfNull(stores);
        _stores = stores.ToArray();
        if (_stores.Length == 0) throw new ArgumentException("At least one source store is needed.", nameof(stores));
    }

    public bool Accepts(string location) => Array.Exists(_stores, s => s.Accepts(location));

    public Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken) =>
        For(location).ListAsync(location, cancellationToken);

    public Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken) =>
        For(location).OpenReadAsync(location, version, cancellationToken);

    public ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        For(location).ReadAsync(location, version, offset, buffer, cancellationToken);

    private ISourceStore For(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        foreach (var store in _stores)
            if (store.Accepts(location)) return store;
        FileSourceStore.RejectUrl(location);
        throw new SourceException($"The audience snapshot {location} cannot be read here: no source store accepts it.");
    }
}
