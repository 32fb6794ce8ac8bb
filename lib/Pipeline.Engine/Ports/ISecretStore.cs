namespace Pipeline.Engine.Ports;

/// <summary>
/// Named secrets: Key Vault in Azure; environment variables or a local secrets file on a developer's
/// machine. Values never reach logs or messages; only names do.
/// </summary>
public interface ISecretStore
{
    /// <summary>A description for messages, e.g. "Key Vault https://x.vault.azure.net/" (never a value).</summary>
    string Describe { get; }

    /// <summary>The secret's value, or null when there is no secret with that name.</summary>
    Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken);

    /// <summary>Where a found secret came from, for a message about its value: one store, not the whole chain.</summary>
    string DescribeSource(string name) => Describe;
}

/// <summary>A secret that is missing or unusable; names the secret and the store, never the value.</summary>
public sealed class SecretException(string message, Exception? inner = null) : Exception(message, inner);
