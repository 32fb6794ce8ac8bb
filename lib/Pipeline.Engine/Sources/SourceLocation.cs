namespace Pipeline.Engine.Sources;

/// <summary>
/// A source location is a local path (a file or a folder) or a URL (a blob, or a prefix of blobs). These tell them
/// apart and print them: a URL is shown without its query or user info, where a SAS token or key would be.
/// </summary>
public static class SourceLocation
{
    /// <summary>True for "scheme://..." (two or more letters, so a Windows drive "C:\" stays a path).</summary>
    public static bool IsUrl(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        var colon = location.IndexOf("://", StringComparison.Ordinal);
        if (colon < 2) return false;
        for (var i = 0; i < colon; i++)
        {
            var c = location[i];
            if (!(char.IsAsciiLetter(c) || (i > 0 && (char.IsAsciiDigit(c) || c is '+' or '-' or '.')))) return false;
        }
        return true;
    }

    /// <summary>For messages: a URL without query, fragment and user info; a path as it is.</summary>
    public static string Display(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        if (!IsUrl(location)) return location;
        var end = location.IndexOfAny(['?', '#']);
        var text = end < 0 ? location : location[..end];
        var authority = text.IndexOf("://", StringComparison.Ordinal) + 3;
        var slash = text.IndexOf('/', authority);
        var at = text.LastIndexOf('@', slash < 0 ? text.Length - 1 : slash - 1);
        return at >= authority ? text[..authority] + text[(at + 1)..] : text;
    }

    /// <summary>The file's name: the last segment of the path or URL.</summary>
    public static string Name(string location)
    {
        var text = Display(location).TrimEnd('/');
        if (!IsUrl(text)) return Path.GetFileName(text);
        var slash = text.LastIndexOf('/');
        return Uri.UnescapeDataString(text[(slash + 1)..]);
    }

    /// <summary>Why <paramref name="url"/> cannot be a source location, or null. Which URLs name blobs is the blob store's call.</summary>
    public static string? UrlProblem(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            return $"\"{Display(url)}\" is not a valid URL.";
        if (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            return $"\"{Display(url)}\" is a {uri.Scheme}:// URL; a source is a local file or folder, or an Azure blob URL (https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH).";
        // A SAS would end up in run state and in messages: access is granted to the identity instead.
        if (uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            return $"{Display(url)}: a source URL must not carry a query, SAS token or user info. Remove it, and grant the identity that runs the pipeline the Storage Blob Data Reader role on the container.";
        if (uri.Fragment.Length > 0)
            return $"{Display(url)}: a source URL must not carry a #fragment.";
        return null;
    }
}
