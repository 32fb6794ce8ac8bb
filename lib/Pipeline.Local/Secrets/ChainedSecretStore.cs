using Pipeline.Engine.Ports;

namespace Pipeline.Local.Secrets;

/// <summary>
/// Asks several stores in order and returns the first value found, e.g. environment, then the local
/// secrets file, then Key Vault: a developer can override one secret without touching the others.
/// A store that fails (unreadable file, Key Vault access denied) fails the lookup rather than being
/// skipped, so a broken store is noticed instead of silently falling through to a stale value.
/// </summary>
public sealed class ChainedSecretStore : ISecretStore
{
    private readonly ISecretStore[] _stores;
    // Which store answered each name, so a message about a bad value blames that store, not the chain.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ISecretStore> _answeredBy = new(StringComparer.OrdinalIgnoreCase);

    public ChainedSecretStore(params IEnumerable<ISecretStore> stores)
    {
        _stores = [.. stores];
        if (_stores.Length == 0) throw new ArgumentException("A chain needs at least one secret store.", nameof(stores));
    }

    public IReadOnlyList<ISecretStore> Stores => _stores;

    public string Describe => string.Join(", then ", _stores.Select(s => s.Describe));

    public async Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        foreach (var store in _stores)
        {
            if (await store.GetSecretAsync(name, cancellationToken) is { } value)
            {
                _answeredBy[name] = store;
                return value;
            }
        }
        _answeredBy.TryRemove(name, out _);
        return null;
    }

    public string DescribeSource(string name) => _answeredBy.TryGetValue(name, out var store) ? store.DescribeSource(name) : Describe;

    public override string ToString() => Describe;
}
