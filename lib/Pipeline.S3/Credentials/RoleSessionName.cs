using System.Text;

namespace Pipeline.S3.Credentials;

/// <summary>
/// STS RoleSessionName: 2-64 characters of [A-Za-z0-9_+=,.@-]. It appears in the customer's CloudTrail
/// and in the assumed-role ARN, so it says who we are and which destination the session writes to.
/// </summary>
public static class RoleSessionName
{
    public const int MaxLength = 64;

    /// <summary>"{prefix}-{destination}" with characters STS rejects replaced by '-', cut to 64.</summary>
    public static string For(string prefix, string destinationName)
    {
        var name = Sanitize($"{prefix}-{destinationName}").Trim('-');
        if (name.Length > MaxLength) name = name[..MaxLength].TrimEnd('-');
        return name.Length >= 2 ? name : "audience-export";
    }

    /// <summary>Every character outside [A-Za-z0-9_+=,.@-] becomes '-'.</summary>
    public static string Sanitize(string value)
    {
        var result = new StringBuilder(value.Length);
        foreach (var c in value) result.Append(IsAllowed(c) ? c : '-');
        return result.ToString();
    }

    public static bool IsValid(string name) => name.Length is >= 2 and <= MaxLength && name.All(IsAllowed);

    private static bool IsAllowed(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '=' or ',' or '.' or '@' or '-';
}
