using System.Text.Json;
using Amazon.Runtime;
using Pipeline.Engine.Ports;

namespace Pipeline.S3.Credentials;

/// <summary>
/// An AWS access key as kept in a secret (Key Vault, environment variable or local secrets file):
/// <code>
/// {"accessKeyId": "AKIA...", "secretAccessKey": "...", "sessionToken": "..."}
/// </code>
/// <c>sessionToken</c> is optional (only for temporary keys). Property names are matched ignoring case,
/// so the <c>Credentials</c> object printed by <c>aws sts get-session-token</c> also works; other
/// properties are ignored. Values are trimmed. See Credentials/README.md.
/// </summary>
/// <remarks>Parse errors say what is wrong and never echo a value; <see cref="ToString"/> prints no key.</remarks>
public sealed class AccessKeySecret
{
    public const string Format = "{\"accessKeyId\": \"...\", \"secretAccessKey\": \"...\", \"sessionToken\": optional}";

    private AccessKeySecret(string accessKeyId, string secretAccessKey, string? sessionToken)
    {
        AccessKeyId = accessKeyId;
        SecretAccessKey = secretAccessKey;
        SessionToken = sessionToken;
    }

    public string AccessKeyId { get; }
    public string SecretAccessKey { get; }
    public string? SessionToken { get; }

    public AWSCredentials ToCredentials() =>
        SessionToken is null ? new BasicAWSCredentials(AccessKeyId, SecretAccessKey) : new SessionAWSCredentials(AccessKeyId, SecretAccessKey, SessionToken);

    /// <summary>Reads the secret's value; <paramref name="secretName"/> and <paramref name="store"/> are only for the message.</summary>
    /// <exception cref="SecretException">The value is not JSON, not an object, or lacks a field; the message names the field, never a value.</exception>
    public static AccessKeySecret Parse(string value, string secretName, string store)
    {
        ArgumentNullException.ThrowIfNull(value);
        string Fail(string what) =>
            $"Secret \"{secretName}\" in {store} {what}. It must hold an AWS access key as JSON: {Format} (see lib/Pipeline.S3/Credentials/README.md).";

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(value);
        }
        catch (JsonException e)
        {
            // JsonException's own message quotes the offending character: never pass it on.
            throw new SecretException(Fail($"is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})"));
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.String)
                throw new SecretException(Fail("is a quoted JSON string; store the JSON object itself, not a string that contains it"));
            if (root.ValueKind != JsonValueKind.Object)
                throw new SecretException(Fail($"is a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an object"));

            var problems = new List<string>();
            var accessKeyId = Field(root, "accessKeyId", required: true, problems);
            var secretAccessKey = Field(root, "secretAccessKey", required: true, problems);
            var sessionToken = Field(root, "sessionToken", required: false, problems);
            if (problems.Count > 0) throw new SecretException(Fail(string.Join("; ", problems)));
            return new AccessKeySecret(accessKeyId!, secretAccessKey!, sessionToken);
        }
    }

    public override string ToString() => $"AccessKeySecret(accessKeyId: ***, secretAccessKey: ***, sessionToken: {(SessionToken is null ? "none" : "***")})";

    private static string? Field(JsonElement root, string name, bool required, List<string> problems)
    {
        JsonElement? found = null;
        foreach (var property in root.EnumerateObject())
        {
            if (!string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase)) continue;
            if (found is not null)
            {
                problems.Add($"has \"{name}\" more than once");
                return null;
            }
            found = property.Value;
        }
        switch (found?.ValueKind)
        {
            case null or JsonValueKind.Null:
                if (required) problems.Add($"has no \"{name}\"");
                return null;
            case JsonValueKind.String:
                var text = found.Value.GetString()!.Trim();
                if (text.Length == 0) problems.Add($"has an empty \"{name}\"");
                else if (text.Any(char.IsWhiteSpace)) problems.Add($"has whitespace inside \"{name}\"");
                return text.Length == 0 ? null : text;
            default:
                problems.Add($"has \"{name}\" as a JSON {found.Value.ValueKind.ToString().ToLowerInvariant()}, not a string");
                return null;
        }
    }
}
