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
            if (await store.GetSecretAsync(name, cancellationToken) is { } value) return value;
        }
        return null;
    }

    public override string ToString() => Describe;
}
