using System.Text.RegularExpressions;
using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Ports;

namespace Pipeline.Azure.Secrets;

/// <summary>
/// Secrets from Azure Key Vault through the real <see cref="SecretClient"/>, authenticated with a
/// <see cref="TokenCredential"/>: <see cref="ManagedIdentityCredential"/> in the Function App,
/// <see cref="DefaultAzureCredential"/> (az login, environment) on a laptop.
/// </summary>
/// <remarks>
/// A secret that does not exist is null (the next store in a chain may have it). Denied access, a
/// disabled secret, a failed sign-in or an unreachable vault are <see cref="SecretException"/>s that
/// name the vault, the secret and the fix. Names must follow Key Vault's rules (1-127 letters, digits
/// and '-'); others are refused before any request, with the reason.
/// </remarks>
public sealed partial class KeyVaultSecretStore : ISecretStore
{
    /// <summary>The built-in role that may read secret values (RBAC-mode vaults).</summary>
    public const string ReaderRole = "Key Vault Secrets User";

    private readonly SecretClient _client;
    private readonly ILogger _logger;

    public KeyVaultSecretStore(Uri vaultUri, TokenCredential credential, SecretClientOptions? options = null, ILogger<KeyVaultSecretStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(vaultUri);
        ArgumentNullException.ThrowIfNull(credential);
        if (vaultUri.Scheme != Uri.UriSchemeHttps) throw new ArgumentException($"Key Vault URI {vaultUri} must use https.", nameof(vaultUri));
        VaultUri = vaultUri;
        _client = new SecretClient(vaultUri, credential, options ?? new SecretClientOptions());
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public Uri VaultUri { get; }

    public string Describe => $"Key Vault {VaultUri}";

    [GeneratedRegex("^[0-9A-Za-z-]{1,127}$")]
    private static partial Regex NamePattern();

    /// <summary>Why <paramref name="name"/> cannot be a Key Vault secret name, or null when it can.</summary>
    public static string? NameProblem(string name) =>
        NamePattern().IsMatch(name) ? null
        : name.Length is 0 or > 127 ? $"Key Vault secret names are 1-127 characters long; \"{name}\" has {name.Length}."
        : $"Key Vault secret names may contain only letters, digits and '-'; \"{name}\" does not qualify. Use e.g. \"{Regex.Replace(name, "[^0-9A-Za-z-]", "-")}\" (in Key Vault and in pipeline.json).";

    public async Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (NameProblem(name) is { } problem) throw new SecretException($"Secret \"{name}\" cannot be read from {Describe}: {problem}");
        try
        {
            var response = await _client.GetSecretAsync(name, cancellationToken: cancellationToken);
            Log.Read(_logger, name, VaultUri);
            return response.Value.Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            Log.NotFound(_logger, name, VaultUri);
            return null;
        }
        catch (RequestFailedException e) when (e.Status == 403)
        {
            Log.Denied(_logger, name, VaultUri, e.ErrorCode);
            var disabled = e.Message.Contains("disabled", StringComparison.OrdinalIgnoreCase);
            throw new SecretException(disabled
                ? $"Secret \"{name}\" in {Describe} is disabled. Enable it (or its current version) in the vault."
                : $"Access to secret \"{name}\" in {Describe} was denied (403 {e.ErrorCode}). Grant the identity this app runs as (the Function App's managed identity, " +
                  $"or your az login) the role \"{ReaderRole}\" on the vault (az role assignment create --role \"{ReaderRole}\" --assignee <principal-id> --scope <vault-resource-id>); " +
                  "for a vault that uses access policies, give it the Get permission on secrets. Also check the vault's firewall allows this network.", e);
        }
        catch (RequestFailedException e) when (e.Status == 401)
        {
            throw new SecretException($"{Describe} did not accept our token for secret \"{name}\" (401 {e.ErrorCode}). Check that the identity belongs to the vault's tenant.", e);
        }
        catch (RequestFailedException e)
        {
            throw new SecretException($"Reading secret \"{name}\" from {Describe} failed (HTTP {e.Status} {e.ErrorCode}): {Summary(e.Message)}", e);
        }
        catch (AuthenticationFailedException e)
        {
            // Covers CredentialUnavailableException: no managed identity here, not signed in to the CLI, ...
            throw new SecretException(
                $"Could not sign in to {Describe} to read secret \"{name}\": {Summary(e.Message + " " + e.InnerException?.Message)} " +
                "In Azure, give the Function App a managed identity; on a laptop, run `az login` or set the secret in the environment (PIPELINE_SECRET_*) or the local secrets file instead.", e);
        }
    }

    public override string ToString() => Describe;

    /// <summary>The message on one line (SDK messages span several, with headers and links), cut to a readable length.</summary>
    private static string Summary(string message)
    {
        var text = Whitespace().Replace(message, " ").Trim();
        return text.Length <= 400 ? text : text[..400] + "...";
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Read secret {SecretName} from Key Vault {Vault}")]
        public static partial void Read(ILogger logger, string secretName, Uri vault);

        [LoggerMessage(2, LogLevel.Debug, "Secret {SecretName} does not exist in Key Vault {Vault}")]
        public static partial void NotFound(ILogger logger, string secretName, Uri vault);

        [LoggerMessage(3, LogLevel.Warning, "Key Vault {Vault} denied access to secret {SecretName} ({ErrorCode})")]
        public static partial void Denied(ILogger logger, string secretName, Uri vault, string? errorCode);
    }
}
