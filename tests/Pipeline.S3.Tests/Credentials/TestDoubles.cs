using System.Collections.Concurrent;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Credentials;

namespace Pipeline.S3.Tests.Credentials;

/// <summary>Secrets from a dictionary, counting reads.</summary>
internal sealed class DictionarySecretStore(Dictionary<string, string> values) : ISecretStore
{
    private int _reads;

    public int Reads => _reads;

    public ConcurrentDictionary<string, string> Values { get; } = new(values);

    public string Describe => "test store";

    public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        return Task.FromResult(Values.TryGetValue(name, out var value) ? value : null);
    }
}

internal sealed class FixedTokenProvider(string token) : IWebIdentityTokenProvider
{
    private int _calls;

    public int Calls => _calls;

    public string Describe => "test identity";

    public Task<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(token);
    }
}

internal static class Destinations
{
    public const string CustomerRole = "arn:aws:iam::123456789012:role/audience-export";
    public const string ExternalId = "cust-a-7f3e9c";

    public static DestinationSpec S3(string name, S3DestinationOptions options) =>
        new() { Name = name, Type = DestinationSpec.S3Type, Location = "customer-a-bucket", Prefix = "audiences/", S3 = options with { Region = options.Region ?? "eu-central-1" } };

    public static DestinationSpec AccessKey(string name = "customer-a", string secret = "customer-a-s3") =>
        S3(name, new S3DestinationOptions { Credentials = S3CredentialMode.AccessKey, SecretName = secret });

    public static DestinationSpec CrossAccount(string name = "customer-b", string secret = "our-aws-key") =>
        S3(name, new S3DestinationOptions { Credentials = S3CredentialMode.CrossAccount, SecretName = secret, BucketOwnerAccountId = "123456789012" });

    public static DestinationSpec AssumeRole(string name = "customer-c", string? secret = "our-aws-key", string externalId = ExternalId) =>
        S3(name, new S3DestinationOptions { Credentials = S3CredentialMode.AssumeRole, SecretName = secret, RoleArn = CustomerRole, ExternalId = externalId });

    public static string KeyJson(string accessKeyId, string secretAccessKey, string? sessionToken = null) =>
        sessionToken is null
            ? $$"""{"accessKeyId": "{{accessKeyId}}", "secretAccessKey": "{{secretAccessKey}}"}"""
            : $$"""{"accessKeyId": "{{accessKeyId}}", "secretAccessKey": "{{secretAccessKey}}", "sessionToken": "{{sessionToken}}"}""";
}
