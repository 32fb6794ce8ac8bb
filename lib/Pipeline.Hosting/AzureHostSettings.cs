using Azure.Core;
using Azure.Identity;
using Pipeline.Azure.Storage;

namespace Pipeline.Hosting;

/// <summary>
/// The settings a host on the Azure backend reads (the Functions app's app settings, or environment variables), read
/// the way the Functions host reads them: case-insensitively, with <c>__</c> or <c>:</c> between a section and its key.
/// Validated when read; nothing here touches the network.
/// </summary>
public sealed record AzureHostSettings
{
    /// <summary>Key Vault the secrets come from (<c>Pipeline__KeyVaultUri</c> as an app setting).</summary>
    public const string KeyVaultUriSetting = "Pipeline:KeyVaultUri";

    /// <summary>How old an unfinished upload or staging blob must be before the daily sweep removes it (default 7 days).</summary>
    public const string StaleUploadAgeSetting = "Pipeline:StaleUploadAge";

    /// <summary>Our AWS role for web identity (<c>assumeRole</c> without a secret).</summary>
    public const string AwsRoleArnSetting = "AWS_ROLE_ARN";

    /// <summary>The user-assigned managed identity the app runs as (Key Vault, the AWS web identity token).</summary>
    public const string ClientIdSetting = "AZURE_CLIENT_ID";

    public static readonly TimeSpan MinStaleUploadAge = TimeSpan.FromDays(1);

    public required StorageConnection Storage { get; init; }
    public Uri? KeyVaultUri { get; init; }
    public string? AwsRoleArn { get; init; }
    public string? ManagedIdentityClientId { get; init; }
    public TimeSpan StaleUploadAge { get; init; } = StaleUploads.DefaultMaxAge;

    /// <summary>Reads and checks the settings; a missing or malformed one throws with the setting's name and the fix.</summary>
    public static AzureHostSettings Read(IEnumerable<KeyValuePair<string, string?>> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var all = settings.ToList();
        var storage = StorageConnection.FromSettings(all)
            ?? throw new StorageConnectionException(
                $"The setting {StorageConnection.DefaultSetting} is not set: the app has no storage account for run state, queues and staging. " +
                $"Fix: set {StorageConnection.DefaultSetting} to a connection string (UseDevelopmentStorage=true for Azurite), or set " +
                $"{StorageConnection.DefaultSetting}__blobServiceUri, __queueServiceUri, __tableServiceUri and __credential=managedidentity.");
        string? Get(string key)
        {
            string? value = null;
            foreach (var (k, v) in all)
            {
                if (string.Equals(k.Replace("__", ":", StringComparison.Ordinal), key, StringComparison.OrdinalIgnoreCase) && !string.IsNullOrWhiteSpace(v))
                    value = v.Trim();
            }
            return value;
        }

        Uri? vault = null;
        if (Get(KeyVaultUriSetting) is { } vaultText
            && (!Uri.TryCreate(vaultText, UriKind.Absolute, out vault) || vault.Scheme != Uri.UriSchemeHttps || !string.IsNullOrEmpty(vault.Query)))
            throw new ArgumentException(
                $"The setting {Setting(KeyVaultUriSetting)} is not an https URL of a vault. Fix: set it to the vault's URI, e.g. https://my-vault.vault.azure.net/.");
        var clientId = Get(ClientIdSetting);
        if (clientId is not null && !Guid.TryParse(clientId, out _))
            throw new ArgumentException($"The setting {ClientIdSetting} is not a GUID. Fix: give the user-assigned identity's client id.");
        var roleArn = Get(AwsRoleArnSetting);
        if (roleArn is not null && !roleArn.StartsWith("arn:", StringComparison.Ordinal))
            throw new ArgumentException($"The setting {AwsRoleArnSetting} is not an ARN. Fix: give our AWS role's ARN, e.g. arn:aws:iam::123456789012:role/audience-export.");
        var age = StaleUploads.DefaultMaxAge;
        if (Get(StaleUploadAgeSetting) is { } ageText
            && (!TimeSpan.TryParse(ageText, System.Globalization.CultureInfo.InvariantCulture, out age) || age < MinStaleUploadAge))
            throw new ArgumentException(
                $"The setting {Setting(StaleUploadAgeSetting)} is not a duration of at least a day. Fix: write days.hours:minutes:seconds, e.g. 7.00:00:00.");
        return new AzureHostSettings { Storage = storage, KeyVaultUri = vault, AwsRoleArn = roleArn, ManagedIdentityClientId = clientId, StaleUploadAge = age };
    }

    /// <summary>The identity for Key Vault and the AWS web identity token: the app's managed identity in Azure, a developer's login locally.</summary>
    public TokenCredential CreateCredential() =>
        new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = ManagedIdentityClientId });

    /// <summary>Adapter options for these settings; the published config names no secrets file or vault of its own here.</summary>
    public PipelineAdapterOptions ToAdapterOptions(TimeProvider time) => new()
    {
        AwsRoleArn = AwsRoleArn,
        KeyVaultUri = KeyVaultUri?.ToString(),
        AzureCredential = CreateCredential(),
        Time = time,
    };

    /// <summary>How a setting is spelled as an app setting (sections joined by <c>__</c>).</summary>
    public static string Setting(string key) => key.Replace(":", "__", StringComparison.Ordinal);
}
