using Pipeline.Engine.Sources;

namespace Pipeline.Azure.Sources;

/// <summary>
/// A source URL taken apart: <c>https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH</c>, or path-style on an IP
/// address or localhost as Azurite serves it, <c>http://127.0.0.1:PORT/devstoreaccount1/CONTAINER/PATH</c>. PATH is a
/// blob's name, or a "folder" (a prefix ending before a '/'); empty for the whole container.
/// </summary>
internal sealed record BlobSourceLocation(string ServiceRoot, string Account, string Container, string BlobName, bool PathStyle)
{
    /// <summary>Azurite's well-known development account.</summary>
    public const string DevelopmentAccount = "devstoreaccount1";

    public Uri ServiceUri => new(ServiceRoot);

    public bool IsDevelopmentAccount => PathStyle && Account == DevelopmentAccount;

    /// <summary>The URL as given, for messages (it never has a query: <see cref="Parse"/> refuses one).</summary>
    public string Display => UrlOf(BlobName);

    /// <summary>The canonical URL of blob <paramref name="name"/> in this container: what plans record and reads parse again.</summary>
    public string UrlOf(string name) =>
        $"{ServiceRoot}/{Container}" + (name.Length == 0 ? "" : "/" + string.Join('/', name.Split('/').Select(Uri.EscapeDataString)));

    public static bool IsHttpUrl(string location) =>
        location.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses a blob URL; a malformed one is a <see cref="SourceException"/> naming it and the expected form.</summary>
    public static BlobSourceLocation Parse(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        const string Expected = "Write https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH (a blob, or a folder of blobs), or http://127.0.0.1:PORT/devstoreaccount1/CONTAINER/PATH for Azurite.";
        if (SourceLocation.UrlProblem(location) is { } problem) throw new SourceException($"{problem} {Expected}");
        var uri = new Uri(location);
        var path = uri.AbsolutePath.TrimStart('/');
        var pathStyle = uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || uri.IsLoopback;
        string account, root;
        if (pathStyle)
        {
            var slash = path.IndexOf('/', StringComparison.Ordinal);
            account = slash < 0 ? path : path[..slash];
            path = slash < 0 ? "" : path[(slash + 1)..];
            root = $"{uri.Scheme}://{uri.Authority}/{account}";
            if (account.Length == 0)
                throw new SourceException($"{SourceLocation.Display(location)} names no storage account: on an IP address the path starts with the account. {Expected}");
        }
        else
        {
            // ACCOUNT.blob.core.windows.net, sovereign clouds (ACCOUNT.blob.core.chinacloudapi.cn), private endpoints (ACCOUNT.privatelink.blob...).
            var labels = uri.Host.Split('.');
            var blob = labels.Length >= 3 && (labels[1] == "blob" || (labels[1] == "privatelink" && labels.Length >= 4 && labels[2] == "blob"));
            if (!blob)
                throw new SourceException($"{SourceLocation.Display(location)} is not an Azure blob URL: its host is not ACCOUNT.blob.core.windows.net. {Expected}");
            account = labels[0];
            root = $"{uri.Scheme}://{uri.Authority}";
        }
        var separator = path.IndexOf('/', StringComparison.Ordinal);
        var container = separator < 0 ? path : path[..separator];
        var name = separator < 0 ? "" : Uri.UnescapeDataString(path[(separator + 1)..]);
        if (container.Length == 0)
            throw new SourceException($"{SourceLocation.Display(location)} names no container. {Expected}");
        if (!IsContainerName(container))
            throw new SourceException($"{SourceLocation.Display(location)}: \"{Uri.UnescapeDataString(container)}\" is not a container name (3-63 lowercase letters, digits and single hyphens). {Expected}");
        if (name.Split('/').SkipLast(1).Any(s => s.Length == 0 || s is "." or ".."))
            throw new SourceException($"{SourceLocation.Display(location)}: the blob path has an empty, '.' or '..' segment. {Expected}");
        return new BlobSourceLocation(root, account, container, name, pathStyle);
    }

    private static bool IsContainerName(string name) =>
        name == "$root" || (name.Length is >= 3 and <= 63 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
                            && name[0] != '-' && name[^1] != '-' && !name.Contains("--", StringComparison.Ordinal));

    /// <summary>Whether <paramref name="serviceUri"/> (a connection's blob endpoint) is this URL's account.</summary>
    public bool IsAccountOf(Uri serviceUri)
    {
        ArgumentNullException.ThrowIfNull(serviceUri);
        var other = $"{serviceUri.Scheme}://{serviceUri.Authority}{serviceUri.AbsolutePath.TrimEnd('/')}";
        return string.Equals(other, ServiceRoot, StringComparison.OrdinalIgnoreCase);
    }
}
