namespace Pipeline.Azure.Storage;

/// <summary>
/// An Azure Storage connection string, checked before the SDK sees it so that a mistake gets a message naming the
/// setting and the keyword, and never the account key or SAS (the SDK's own errors may quote the string).
/// </summary>
public sealed class StorageConnectionString
{
    private static readonly string[] Keywords =
    [
        "DefaultEndpointsProtocol", "AccountName", "AccountKey", "SharedAccessSignature", "EndpointSuffix",
        "BlobEndpoint", "QueueEndpoint", "TableEndpoint", "FileEndpoint", "BlobSecondaryEndpoint", "QueueSecondaryEndpoint",
        "TableSecondaryEndpoint", "FileSecondaryEndpoint", "UseDevelopmentStorage", "DevelopmentStorageProxyUri",
    ];

    private readonly Dictionary<string, string> _values;

    private StorageConnectionString(string value, Dictionary<string, string> values)
    {
        Value = value;
        _values = values;
    }

    /// <summary>The connection string as given, for the SDK clients only: it may hold the account key.</summary>
    public string Value { get; }

    public bool IsDevelopmentStorage => _values.ContainsKey("UseDevelopmentStorage");

    /// <summary>The account name, or Azurite's development account.</summary>
    public string AccountName => IsDevelopmentStorage ? "devstoreaccount1" : _values.GetValueOrDefault("AccountName") ?? "(from the endpoints)";

    /// <summary>The endpoint the string names for a service, if it names one explicitly.</summary>
    public Uri? Endpoint(StorageService service) =>
        _values.TryGetValue(service + "Endpoint", out var endpoint) ? new Uri(endpoint) : null;

    /// <summary>For messages: the account and explicit endpoints, without the key or SAS.</summary>
    public string Describe()
    {
        if (IsDevelopmentStorage) return "connection string UseDevelopmentStorage=true (Azurite on its default ports)";
        var endpoints = new[] { StorageService.Blob, StorageService.Queue, StorageService.Table }
            .Select(s => Endpoint(s) is { } uri ? $"{s.ToString().ToLowerInvariant()} {uri.GetLeftPart(UriPartial.Path)}" : null)
            .OfType<string>().ToList();
        return endpoints.Count == 0
            ? $"connection string for account {AccountName}"
            : $"connection string for account {AccountName} ({string.Join(", ", endpoints)})";
    }

    /// <summary>Parses <paramref name="value"/>; <paramref name="setting"/> names where it came from in error messages.</summary>
    public static StorageConnectionString Parse(string value, string setting)
    {
        ArgumentNullException.ThrowIfNull(value);
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var segments = value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
            throw Invalid(setting, "is empty", "Set it to a storage account connection string, or UseDevelopmentStorage=true for Azurite");
        for (var i = 0; i < segments.Length; i++)
        {
            var equals = segments[i].IndexOf('=', StringComparison.Ordinal);
            // A segment without "=" may be part of a key or SAS: name its position, never its text.
            if (equals <= 0 || !IsKeywordShaped(segments[i][..equals].Trim()))
                throw Invalid(setting, $"is not a connection string: part {i + 1} of {segments.Length} (between semicolons) is not KEYWORD=value",
                    "Copy the connection string again from the storage account's Access keys, or use UseDevelopmentStorage=true for Azurite");
            var keyword = segments[i][..equals].Trim();
            var known = Keywords.FirstOrDefault(k => string.Equals(k, keyword, StringComparison.OrdinalIgnoreCase));
            if (known is null)
                throw Invalid(setting, $"has an unknown keyword \"{keyword}\"", $"Use only {string.Join(", ", Keywords)}");
            if (!values.TryAdd(known, segments[i][(equals + 1)..].Trim()))
                throw Invalid(setting, $"sets {known} twice", $"Keep one {known}");
        }

        if (values.TryGetValue("UseDevelopmentStorage", out var development))
        {
            if (!string.Equals(development, "true", StringComparison.OrdinalIgnoreCase))
                throw Invalid(setting, "has UseDevelopmentStorage set to something other than true", "Write UseDevelopmentStorage=true, or remove it and give an account");
            var other = values.Keys.FirstOrDefault(k => k is not "UseDevelopmentStorage" and not "DevelopmentStorageProxyUri");
            if (other is not null)
                throw Invalid(setting, $"combines UseDevelopmentStorage=true with {other}",
                    "For Azurite on other ports give the development account with BlobEndpoint/QueueEndpoint/TableEndpoint instead of UseDevelopmentStorage");
            return new StorageConnectionString(value, values);
        }

        foreach (var service in new[] { "Blob", "Queue", "Table", "File" })
        {
            if (values.TryGetValue(service + "Endpoint", out var endpoint)
                && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)))
                throw Invalid(setting, $"has a {service}Endpoint that is not an http(s) URL", $"Write {service}Endpoint=https://ACCOUNT.{service.ToLowerInvariant()}.core.windows.net/");
        }
        if (values.TryGetValue("DefaultEndpointsProtocol", out var protocol) && protocol is not "https" and not "http")
            throw Invalid(setting, "has a DefaultEndpointsProtocol other than https or http", "Write DefaultEndpointsProtocol=https");
        var hasEndpoints = values.Keys.Any(k => k.EndsWith("Endpoint", StringComparison.Ordinal));
        if (!values.ContainsKey("AccountName") && !hasEndpoints)
            throw Invalid(setting, "names no account", "Add AccountName=... (with AccountKey=...), or endpoints with a SharedAccessSignature");
        if (values.TryGetValue("AccountKey", out var key))
        {
            if (!values.ContainsKey("AccountName"))
                throw Invalid(setting, "has an AccountKey but no AccountName", "Add AccountName=<the storage account>");
            if (key.Length == 0 || !IsBase64(key))
                throw Invalid(setting, "has an AccountKey that is not a base64 account key", "Copy the key again from the storage account's Access keys");
        }
        else if (!values.ContainsKey("SharedAccessSignature"))
        {
            throw Invalid(setting, "has neither AccountKey nor SharedAccessSignature",
                "Add the account key, or use the identity-based settings (" + setting + "__blobServiceUri, ...) instead of a connection string");
        }
        return new StorageConnectionString(value, values);
    }

    private static bool IsBase64(string text)
    {
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out _);
    }

    /// <summary>Only letters, like every keyword: anything else may be a pasted key whose "=" padding looks like a keyword's.</summary>
    private static bool IsKeywordShaped(string text) => text.Length is > 0 and <= 32 && text.All(char.IsAsciiLetter);

    private static StorageConnectionException Invalid(string setting, string problem, string fix) =>
        new($"The setting {setting} {problem}. Fix: {fix}.");
}

/// <summary>A <c>PipelineStorage</c> setting that cannot be used. The message names the setting and the fix and holds no secret.</summary>
public sealed class StorageConnectionException : Exception
{
    public StorageConnectionException(string message) : base(message) { }

    public StorageConnectionException() { }

    public StorageConnectionException(string message, Exception innerException) : base(message, innerException) { }
}

public enum StorageService
{
    Blob,
    Queue,
    Table,
}
