using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Pipeline.Engine.Configuration;
using Pipeline.S3.Credentials;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Clients;

/// <summary>
/// Builds and caches <see cref="AmazonS3Client"/>s per connection and credentials. The SDK's own retries
/// are off (Polly retries, see <see cref="S3RetryPipeline"/>); compatibility mode turns off checksums the
/// store does not require. Clients are thread-safe and cached, so their connections are reused.
/// </summary>
public sealed class S3ClientFactory : IDisposable
{
    // More distinct clients than this means a credential source that hands out new objects each time; start over.
    private const int MaxCachedClients = 256;

    private readonly IS3CredentialSource _credentials;
    private readonly S3RetryOptions _retry;
    private readonly Func<string, string?> _environment;
    private readonly ConcurrentDictionary<(S3Connection Connection, CredentialsIdentity Credentials), AmazonS3Client> _clients = new();
    private readonly ConcurrentDictionary<S3DestinationOptions, S3Connection> _connections = new();

    public S3ClientFactory(IS3CredentialSource credentials, S3RetryOptions? retry = null, Func<string, string?>? environment = null)
    {
        _credentials = credentials;
        _retry = (retry ?? new S3RetryOptions()).Validate();
        _environment = environment ?? Environment.GetEnvironmentVariable;
    }

    /// <summary>Where the destination's requests go (region, endpoint, path style, compatibility).</summary>
    public S3Connection Resolve(DestinationSpec destination) =>
        // Options are records: equal settings share one resolution (no profile file read per request).
        _connections.GetOrAdd(destination.S3 ?? new S3DestinationOptions(), static (options, environment) => S3Connection.Resolve(options, environment), _environment);

    /// <summary>A client for the destination with its current credentials (the credential source caches and refreshes them).</summary>
    public async Task<IAmazonS3> GetClientAsync(DestinationSpec destination, CancellationToken cancellationToken)
    {
        var connection = Resolve(destination);
        var credentials = await _credentials.GetCredentialsAsync(destination, cancellationToken);
        var key = (connection, new CredentialsIdentity(credentials));
        if (_clients.TryGetValue(key, out var cached)) return cached;
        if (_clients.Count >= MaxCachedClients) _clients.Clear(); // dropped clients stay usable by whoever holds them
        var created = new AmazonS3Client(credentials, CreateConfig(connection, _retry));
        var client = _clients.GetOrAdd(key, created);
        if (!ReferenceEquals(client, created)) created.Dispose(); // another caller won the race
        return client;
    }

    internal const int UploadBufferSize = 256 * 1024;

    /// <summary>The SDK configuration for a connection: no SDK retries, our timeouts, compatibility checksums.</summary>
    internal static AmazonS3Config CreateConfig(S3Connection connection, S3RetryOptions retry)
    {
        var config = new AmazonS3Config
        {
            MaxErrorRetry = 0,
            RetryMode = RequestRetryMode.Standard,
            // Polly's per-attempt timeout is the one that should fire; this is a backstop.
            Timeout = retry.AttemptTimeout + TimeSpan.FromSeconds(30),
            ConnectTimeout = retry.ConnectTimeout,
            ForcePathStyle = connection.PathStyle,
            // Endpoints come from our resolution only (AWS_ENDPOINT_URL* are read there), not a second time by the SDK.
            IgnoreConfiguredEndpointUrls = true,
            // A wrong-region 301 must surface as an error naming the right region, not be followed blindly.
            AllowAutoRedirect = false,
            // The SDK copies a part body to the socket in BufferSize writes (8 KiB by default): 1,024 writes per 8 MiB
            // part. Bigger writes cost less CPU on both ends (bench/README.md, upload).
            BufferSize = UploadBufferSize,
        };
        if (connection.Endpoint is not null)
        {
            config.ServiceURL = connection.Endpoint;
            config.AuthenticationRegion = connection.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(connection.Region);
        }
        if (connection.Compatibility)
        {
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }
        return config;
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values) client.Dispose();
        _clients.Clear();
    }

    /// <summary>Credentials compared by instance: a refreshing credentials object is one identity for its lifetime.</summary>
    private readonly record struct CredentialsIdentity(AWSCredentials Value)
    {
        public bool Equals(CredentialsIdentity other) => ReferenceEquals(Value, other.Value);

        public override int GetHashCode() => RuntimeHelpers.GetHashCode(Value);
    }
}
