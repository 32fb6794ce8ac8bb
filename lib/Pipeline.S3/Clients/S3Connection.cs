using System.Net;
using Amazon.Runtime.CredentialManagement;
using Pipeline.Engine.Configuration;

namespace Pipeline.S3.Clients;

/// <summary>
/// Where and how a destination's requests go, resolved once from its options and the environment:
/// the region, the endpoint (null for AWS itself), path-style addressing and compatibility mode.
/// </summary>
public sealed record S3Connection(string Region, string? Endpoint, bool PathStyle, bool Compatibility)
{
    public const string DefaultRegion = "us-east-1";

    /// <summary>
    /// Region: options, then AWS_REGION / AWS_DEFAULT_REGION, then the AWS_PROFILE (or default) profile's region,
    /// then us-east-1. Instance metadata is never asked: that is a network call, and a config should say its region.
    /// Endpoint: options, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, else AWS. Path style: options,
    /// else on for IP-literal and localhost endpoints (they have no per-bucket host names).
    /// </summary>
    public static S3Connection Resolve(S3DestinationOptions options, Func<string, string?> environment)
    {
        var region = options.Region
                     ?? NonEmpty(environment("AWS_REGION"))
                     ?? NonEmpty(environment("AWS_DEFAULT_REGION"))
                     ?? ProfileRegion(environment)
                     ?? DefaultRegion;
        var endpoint = options.Endpoint
                       ?? NonEmpty(environment("AWS_ENDPOINT_URL_S3"))
                       ?? NonEmpty(environment("AWS_ENDPOINT_URL"));
        var pathStyle = options.PathStyle ?? (endpoint is not null && IsLocalOrIpLiteral(endpoint));
        return new S3Connection(region, endpoint?.TrimEnd('/'), pathStyle, options.Compatibility);
    }

    /// <summary>For messages: "AWS (eu-west-1)" or "http://127.0.0.1:9000".</summary>
    public string Describe() => Endpoint ?? $"AWS ({Region})";

    /// <summary>The ARN partition for IAM statements: aws, aws-cn or aws-us-gov.</summary>
    public string Partition =>
        Region.StartsWith("cn-", StringComparison.Ordinal) ? "aws-cn"
        : Region.StartsWith("us-gov-", StringComparison.Ordinal) ? "aws-us-gov"
        : "aws";

    internal static bool IsLocalOrIpLiteral(string endpoint)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)) return false;
        var host = uri.IdnHost.Trim('[', ']');
        return IPAddress.TryParse(host, out _)
               || host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
               || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string? ProfileRegion(Func<string, string?> environment)
    {
        try
        {
            var name = NonEmpty(environment("AWS_PROFILE")) ?? "default";
            return new CredentialProfileStoreChain().TryGetProfile(name, out var profile) ? profile.Region?.SystemName : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException)
        {
            return null; // an unreadable ~/.aws/config is no reason to fail a delivery; the default region applies
        }
    }
}
