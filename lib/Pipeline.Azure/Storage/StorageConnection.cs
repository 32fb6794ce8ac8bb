using System.Collections;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace Pipeline.Azure.Storage;

/// <summary>
/// The storage account behind a connection setting, read the way the Functions host reads one: the setting
/// (<c>PipelineStorage</c>, or <c>ConnectionStrings:PipelineStorage</c>) holds a connection string, or its
/// <c>__</c> children hold identity-based settings: <c>blobServiceUri</c>, <c>queueServiceUri</c>,
/// <c>tableServiceUri</c> (or <c>accountName</c> for the public cloud endpoints), <c>credential=managedidentity</c>
/// and <c>clientId</c>. Validated once, when read; the clients it makes share one credential.
/// </summary>
public sealed class StorageConnection
{
    public const string DefaultSetting = "PipelineStorage";

    private static readonly string[] IdentityKeys =
        ["blobServiceUri", "queueServiceUri", "tableServiceUri", "serviceUri", "accountName", "credential", "clientId"];

    private readonly StorageConnectionString? _connectionString;
    private readonly IReadOnlyDictionary<StorageService, Uri> _serviceUris;
    private readonly TokenCredential? _credential;

    private StorageConnection(string setting, StorageConnectionString connectionString)
    {
        Setting = setting;
        _connectionString = connectionString;
        _serviceUris = new Dictionary<StorageService, Uri>();
        Describe = $"{setting}: {connectionString.Describe()}";
    }

    private StorageConnection(string setting, IReadOnlyDictionary<StorageService, Uri> serviceUris, TokenCredential credential, string identity)
    {
        Setting = setting;
        _serviceUris = serviceUris;
        _credential = credential;
        Describe = $"{setting}: {identity}, blob {serviceUris[StorageService.Blob]}, queue {serviceUris[StorageService.Queue]}, table {serviceUris[StorageService.Table]}";
    }

    /// <summary>The setting it was read from, e.g. <c>PipelineStorage</c>.</summary>
    public string Setting { get; }

    /// <summary>For the first line of output and for logs: the account and endpoints, never a key or SAS.</summary>
    public string Describe { get; }

    public bool IsIdentityBased => _credential is not null;

    /// <summary>Reads <paramref name="setting"/> from the process environment; null when it is not set at all.</summary>
    public static StorageConnection? FromEnvironment(string setting = DefaultSetting)
    {
        var variables = new List<KeyValuePair<string, string?>>();
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
            variables.Add(new((string)entry.Key, entry.Value as string));
        return FromSettings(variables, setting);
    }

    /// <summary>
    /// Reads <paramref name="setting"/> from key-values as environment variables (<c>__</c>) or configuration
    /// (<c>:</c>) spell them, case-insensitively; null when neither the setting nor any child of it is present.
    /// </summary>
    public static StorageConnection? FromSettings(IEnumerable<KeyValuePair<string, string?>> settings, string setting = DefaultSetting)
    {
        ArgumentNullException.ThrowIfNull(settings);
        string? value = null;
        string? connectionStringSetting = null;
        var children = new Dictionary<string, (string Name, string Value)>(StringComparer.OrdinalIgnoreCase);
        foreach (var (rawKey, rawValue) in settings)
        {
            var key = rawKey.Replace("__", ":", StringComparison.Ordinal);
            if (string.Equals(key, setting, StringComparison.OrdinalIgnoreCase) && !string.IsNullOrWhiteSpace(rawValue))
                value = rawValue;
            else if (string.Equals(key, "ConnectionStrings:" + setting, StringComparison.OrdinalIgnoreCase) && !string.IsNullOrWhiteSpace(rawValue))
                connectionStringSetting = rawValue;
            else if (key.StartsWith(setting + ":", StringComparison.OrdinalIgnoreCase) && rawValue is not null)
                children[key[(setting.Length + 1)..]] = (rawKey, rawValue.Trim());
        }

        // The host looks in ConnectionStrings first, then at the setting's own value.
        var connectionString = connectionStringSetting ?? value;
        if (connectionString is not null)
        {
            if (children.Count > 0)
                throw new StorageConnectionException(
                    $"The setting {setting} holds a connection string and {children.Values.First().Name} is set too. " +
                    $"Fix: use either the connection string or the identity-based {setting}__* settings, not both.");
            return new StorageConnection(setting, StorageConnectionString.Parse(connectionString, connectionStringSetting is null ? setting : "ConnectionStrings:" + setting));
        }
        return children.Count == 0 ? null : FromIdentitySettings(setting, children);
    }

    private static StorageConnection FromIdentitySettings(string setting, Dictionary<string, (string Name, string Value)> children)
    {
        foreach (var (child, (name, _)) in children)
        {
            if (!IdentityKeys.Contains(child, StringComparer.OrdinalIgnoreCase))
                throw new StorageConnectionException(
                    $"The setting {name} is not a storage connection setting. Fix: rename it; {setting} takes " +
                    string.Join(", ", IdentityKeys.Where(k => k != "serviceUri").Select(k => $"{setting}__{k}")) + ".");
        }
        string? Child(string key) => children.TryGetValue(key, out var v) && v.Value.Length > 0 ? v.Value : null;

        var accountName = Child("accountName");
        if (accountName is not null && !IsAccountName(accountName))
            throw new StorageConnectionException(
                $"The setting {setting}__accountName is not a storage account name (3-24 lowercase letters and digits). Fix: give the account's name, e.g. {setting}__accountName=mystorageaccount.");
        var uris = new Dictionary<StorageService, Uri>();
        foreach (var service in new[] { StorageService.Blob, StorageService.Queue, StorageService.Table })
        {
            var lower = service.ToString().ToLowerInvariant();
            var key = $"{lower}ServiceUri";
            // serviceUri is the host's older name for the blob endpoint.
            var text = Child(key) ?? (service == StorageService.Blob ? Child("serviceUri") : null);
            if (text is null)
            {
                if (accountName is null)
                    throw new StorageConnectionException(
                        $"The setting {setting}__{key} is missing: the identity-based connection {setting} has no {lower} endpoint. " +
                        $"Fix: set {setting}__{key}=https://ACCOUNT.{lower}.core.windows.net (or {setting}__accountName=ACCOUNT).");
                text = $"https://{accountName}.{lower}.core.windows.net";
            }
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
                || !string.IsNullOrEmpty(uri.Query))
                throw new StorageConnectionException(
                    $"The setting {setting}__{key} is not an http(s) URL without a query (a SAS does not belong here). " +
                    $"Fix: set it to https://ACCOUNT.{lower}.core.windows.net and grant the app's identity a data role on the account.");
            uris[service] = uri;
        }

        var clientId = Child("clientId");
        if (clientId is not null && !Guid.TryParse(clientId, out _))
            throw new StorageConnectionException(
                $"The setting {setting}__clientId is not a GUID. Fix: give the user-assigned identity's client id (Azure portal: the identity's Overview).");
        var credentialName = Child("credential");
        TokenCredential credential;
        string identity;
        if (credentialName is null)
        {
            // The host uses DefaultAzureCredential when no credential is named (a developer's az login works).
            credential = new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = clientId });
            identity = clientId is null ? "default Azure credential" : $"default Azure credential (managed identity client id {clientId})";
        }
        else if (string.Equals(credentialName, "managedidentity", StringComparison.OrdinalIgnoreCase))
        {
            credential = new ManagedIdentityCredential(clientId is null ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(clientId));
            identity = clientId is null ? "managed identity (system-assigned)" : $"managed identity (client id {clientId})";
        }
        else
        {
            throw new StorageConnectionException(
                $"The setting {setting}__credential has an unsupported value. Fix: write {setting}__credential=managedidentity (with {setting}__clientId for a user-assigned identity), or remove it to use the default Azure credential.");
        }
        return new StorageConnection(setting, uris, credential, identity);
    }

    private static bool IsAccountName(string name) =>
        name.Length is >= 3 and <= 24 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));

    /// <summary>Blob clients; without <paramref name="options"/>, with the pipeline's retries (<see cref="StorageOutage.WithRetries"/>).</summary>
    public BlobServiceClient CreateBlobServiceClient(BlobClientOptions? options = null)
    {
        options ??= StorageOutage.WithRetries(new BlobClientOptions());
        return _connectionString is not null
            ? Create(() => new BlobServiceClient(_connectionString.Value, options))
            : new BlobServiceClient(_serviceUris[StorageService.Blob], _credential, options);
    }

    /// <summary>Queue clients; pass <see cref="StageQueues.ClientOptions"/> for the stage queues (base64 bodies, what queue triggers read).</summary>
    public QueueServiceClient CreateQueueServiceClient(QueueClientOptions? options = null)
    {
        options ??= StorageOutage.WithRetries(new QueueClientOptions());
        return _connectionString is not null
            ? Create(() => new QueueServiceClient(_connectionString.Value, options))
            : new QueueServiceClient(_serviceUris[StorageService.Queue], _credential, options);
    }

    /// <summary>Table clients; without <paramref name="options"/>, with the pipeline's retries.</summary>
    public TableServiceClient CreateTableServiceClient(TableClientOptions? options = null)
    {
        options ??= StorageOutage.WithRetries(new TableClientOptions());
        return _connectionString is not null
            ? Create(() => new TableServiceClient(_connectionString.Value, options))
            : new TableServiceClient(_serviceUris[StorageService.Table], _credential, options);
    }

    /// <summary>The SDK's own parse errors can quote the connection string: replace them with one that names only the setting.</summary>
    private T Create<T>(Func<T> create)
    {
        try
        {
            return create();
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            throw new StorageConnectionException(
                $"The setting {Setting} was refused by the Azure SDK ({e.GetType().Name}). Fix: copy the connection string again from the storage account's Access keys.");
        }
    }
}
