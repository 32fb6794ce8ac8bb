using System.Collections.Concurrent;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.S3.Credentials;

/// <summary>
/// Makes an STS client for a region, signing with <paramref name="credentials"/> (null: unsigned, for
/// AssumeRoleWithWebIdentity). Tests return a real <see cref="AmazonSecurityTokenServiceClient"/> whose
/// ServiceURL is a loopback stub. The caller disposes the client.
/// </summary>
public delegate IAmazonSecurityTokenService StsClientFactory(AWSCredentials? credentials, string region);

/// <summary>
/// The credential modes of an S3 destination (see README.md beside this file):
/// <list type="bullet">
/// <item><c>default</c>: the AWS SDK's default chain (environment, AWS_PROFILE and the shared credentials file, ...).</item>
/// <item><c>accessKey</c>: the customer's key, from the secret named by <c>secretName</c> (<see cref="AccessKeySecret"/> format).</item>
/// <item><c>crossAccount</c>: our own key, from the secret named by <c>secretName</c>.</item>
/// <item><c>assumeRole</c>: STS AssumeRole into the customer's <c>roleArn</c> with their <c>externalId</c>, signed with our key
/// from <c>secretName</c>, or without a secret from our web identity (<see cref="S3CredentialSourceOptions.WebIdentityRoleArn"/>).</item>
/// </list>
/// Credentials are cached per destination: keys from secrets for <see cref="S3CredentialSourceOptions.SecretCacheDuration"/>,
/// role sessions until <see cref="S3CredentialSourceOptions.RefreshBefore"/> their expiry (by the injected clock).
/// Errors name the destination, the secret or role and the fix; secrets never reach a message or the log.
/// </summary>
public sealed partial class S3CredentialSource : IS3CredentialSource
{
    /// <summary>STS caps a session assumed from another role session ("role chaining") at one hour.</summary>
    private const int RoleChainingMaxSeconds = 3600;

    private readonly ISecretStore _secrets;
    private readonly S3CredentialSourceOptions _options;
    private readonly StsClientFactory _stsClients;
    private readonly IWebIdentityTokenProvider? _webIdentity;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<DestinationKey, Slot> _destinations = new();
    private readonly ConcurrentDictionary<string, Slot> _webIdentitySessions = new(StringComparer.Ordinal);

    public S3CredentialSource(
        ISecretStore secrets,
        S3CredentialSourceOptions? options = null,
        StsClientFactory? stsClientFactory = null,
        IWebIdentityTokenProvider? webIdentity = null,
        TimeProvider? timeProvider = null,
        ILogger<S3CredentialSource>? logger = null)
    {
        _secrets = secrets ?? throw new ArgumentNullException(nameof(secrets));
        _options = options ?? new S3CredentialSourceOptions();
        _options.Validate();
        _stsClients = stsClientFactory ?? CreateStsClient;
        _webIdentity = webIdentity;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The production STS client: regional endpoint, unsigned when no credentials are given.</summary>
    public static IAmazonSecurityTokenService CreateStsClient(AWSCredentials? credentials, string region) =>
        new AmazonSecurityTokenServiceClient(credentials ?? new AnonymousAWSCredentials(), new AmazonSecurityTokenServiceConfig { RegionEndpoint = RegionEndpoint.GetBySystemName(region) });

    public async Task<AWSCredentials> GetCredentialsAsync(DestinationSpec destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var s3 = destination.S3 ?? throw new DestinationException($"Destination \"{destination.Name}\" is not an S3 destination; it has no S3 credentials.");
        if (s3.Credentials == S3CredentialMode.Default) return await DefaultChainAsync(destination);

        var slot = _destinations.GetOrAdd(new DestinationKey(destination.Name, s3), _ => new Slot());
        return await GetOrRenewAsync(slot, ct => RenewAsync(destination, s3, ct), previous => Log.Renewing(_logger, destination.Name, previous), cancellationToken);
    }

    /// <summary>
    /// Forgets the destination's cached credentials, so the next call reads the secret or assumes the role
    /// again. Call it when S3 answers ExpiredToken, InvalidAccessKeyId or InvalidToken (a rotated key, a
    /// revoked session, a clock that ran ahead), then retry the request once.
    /// </summary>
    public void Invalidate(DestinationSpec destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.S3 is { } s3 && _destinations.TryGetValue(new DestinationKey(destination.Name, s3), out var slot))
        {
            slot.Current = null;
            Log.Invalidated(_logger, destination.Name);
        }
    }

    private async Task<AWSCredentials> GetOrRenewAsync(Slot slot, Func<CancellationToken, Task<Lease>> renew, Action<DateTimeOffset> onRefresh, CancellationToken cancellationToken)
    {
        if (slot.Current is { } lease && _time.GetUtcNow() < lease.RenewAt) return lease.Credentials;
        await slot.Gate.WaitAsync(cancellationToken);
        try
        {
            // Another caller may have renewed while this one waited.
            var current = slot.Current;
            if (current is not null && _time.GetUtcNow() < current.RenewAt) return current.Credentials;
            if (current?.ExpiresAt is { } expiresAt) onRefresh(expiresAt);
            var renewed = await renew(cancellationToken);
            slot.Current = renewed;
            return renewed.Credentials;
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    private async Task<Lease> RenewAsync(DestinationSpec destination, S3DestinationOptions s3, CancellationToken cancellationToken)
    {
        switch (s3.Credentials)
        {
            case S3CredentialMode.AccessKey:
            case S3CredentialMode.CrossAccount:
            {
                var secretName = s3.SecretName ?? throw MissingSetting(destination, "secretName");
                var key = await ReadKeyAsync(destination, secretName, cancellationToken);
                return new Lease(key.ToCredentials(), _time.GetUtcNow() + _options.SecretCacheDuration, null);
            }
            case S3CredentialMode.AssumeRole:
                return await AssumeCustomerRoleAsync(destination, s3, cancellationToken);
            default:
                throw new DestinationException($"Destination \"{destination.Name}\": credentials mode {s3.Credentials} is not supported.");
        }
    }

    private async Task<AWSCredentials> DefaultChainAsync(DestinationSpec destination)
    {
        try
        {
            var credentials = await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync(null);
            Log.DefaultChain(_logger, destination.Name, credentials.GetType().Name);
            return credentials;
        }
        catch (AmazonClientException e)
        {
            throw new DestinationException(
                $"Destination \"{destination.Name}\" ({destination.Display}) uses credentials mode \"default\", but the AWS default chain found no credentials ({e.Message}). " +
                "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for a temporary key), or AWS_PROFILE naming a profile in ~/.aws/credentials; " +
                "or give the destination a credentials mode with a secretName.", e);
        }
    }

    private async Task<AccessKeySecret> ReadKeyAsync(DestinationSpec destination, string secretName, CancellationToken cancellationToken)
    {
        var mode = destination.S3!.Credentials;
        var whose = mode == S3CredentialMode.AccessKey ? "the customer's AWS access key" : "our own AWS access key";
        AccessKeySecret? key;
        try
        {
            var value = await _secrets.GetSecretAsync(secretName, cancellationToken);
            key = value is null ? null : AccessKeySecret.Parse(value, secretName, _secrets.DescribeSource(secretName));
        }
        catch (SecretException e)
        {
            // The store or the parser names the secret and the store; add which destination needed it.
            throw new SecretException($"Destination \"{destination.Name}\" (credentials.secretName, {whose}): {e.Message}", e);
        }
        if (key is null)
            throw new SecretException(
                $"Destination \"{destination.Name}\": secret \"{secretName}\" (credentials.secretName, {whose}) was not found in {_secrets.Describe}. " +
                $"Create it with the value {AccessKeySecret.Format}, or correct credentials.secretName.");
        Log.KeyRead(_logger, destination.Name, secretName, _secrets.Describe);
        return key;
    }

    private async Task<Lease> AssumeCustomerRoleAsync(DestinationSpec destination, S3DestinationOptions s3, CancellationToken cancellationToken)
    {
        var roleArn = s3.RoleArn ?? throw MissingSetting(destination, "roleArn");
        var externalId = s3.ExternalId ?? throw MissingSetting(destination, "externalId");
        var region = RegionFor(s3);

        if (s3.SecretName is { } secretName)
        {
            var key = await ReadKeyAsync(destination, secretName, cancellationToken);
            var principal = $"our AWS key in secret \"{secretName}\"";
            try
            {
                return await AssumeRoleAsync(destination, key.ToCredentials(), principal, roleArn, externalId, region, _options.DurationSeconds, cancellationToken);
            }
            catch (AmazonSecurityTokenServiceException e) when (IsExpiredToken(e))
            {
                throw new SecretException(
                    $"Destination \"{destination.Name}\": the session token in secret \"{secretName}\" ({_secrets.Describe}) has expired (STS: {e.ErrorCode}). " +
                    "Store a long-term access key of our IAM user (no sessionToken), or a fresh temporary key.");
            }
        }

        // Web identity: our role first, then the customer's role from it (role chaining, so at most an hour).
        var duration = Math.Min(_options.DurationSeconds, RoleChainingMaxSeconds);
        for (var attempt = 1; ; attempt++)
        {
            var (ourSession, ourRole) = await WebIdentitySessionAsync(destination, region, cancellationToken);
            try
            {
                return await AssumeRoleAsync(destination, ourSession, $"our role {ourRole}", roleArn, externalId, region, duration, cancellationToken);
            }
            catch (AmazonSecurityTokenServiceException e) when (IsExpiredToken(e) && attempt == 1)
            {
                // Our own session died early (revoked, or the clock ran ahead): federate again once.
                Log.ExpiredTokenRetry(_logger, destination.Name, ourRole, e.ErrorCode);
                if (_webIdentitySessions.TryGetValue(region, out var stale)) stale.Current = null;
            }
            catch (AmazonSecurityTokenServiceException e) when (IsExpiredToken(e))
            {
                throw new DestinationException(
                    $"Destination \"{destination.Name}\": AWS STS still answers {e.ErrorCode} for a fresh session of our role {ourRole}. Check this machine's clock (UTC) against AWS time.", e);
            }
        }
    }

    private async Task<Lease> AssumeRoleAsync(
        DestinationSpec destination, AWSCredentials signer, string principal, string roleArn, string externalId, string region, int durationSeconds, CancellationToken cancellationToken)
    {
        var sessionName = RoleSessionName.For(_options.RoleSessionNamePrefix, destination.Name);
        AssumeRoleResponse response;
        try
        {
            using var sts = _stsClients(signer, region);
            response = await sts.AssumeRoleAsync(new AssumeRoleRequest
            {
                RoleArn = roleArn,
                ExternalId = externalId,
                RoleSessionName = sessionName,
                DurationSeconds = durationSeconds,
            }, cancellationToken);
        }
        catch (AmazonSecurityTokenServiceException e) when (!IsExpiredToken(e))
        {
            Log.StsRefused(_logger, destination.Name, "AssumeRole", roleArn, e.ErrorCode);
            throw AssumeRoleFailure(destination, e, principal, roleArn, externalId);
        }
        catch (Exception e) when (e is AmazonClientException or HttpRequestException && e is not AmazonServiceException)
        {
            throw new DestinationException($"Destination \"{destination.Name}\": could not reach AWS STS ({region}) to assume role {roleArn}: {e.Message}", e);
        }
        var lease = LeaseFrom(response.Credentials, durationSeconds);
        Log.AssumedRole(_logger, destination.Name, roleArn, sessionName, lease.ExpiresAt!.Value);
        return lease;
    }

    private Exception AssumeRoleFailure(DestinationSpec destination, AmazonSecurityTokenServiceException e, string principal, string roleArn, string externalId)
    {
        var secretName = destination.S3?.SecretName;
        return e.ErrorCode switch
        {
            "AccessDenied" => new DestinationException(
                $"Destination \"{destination.Name}\" ({destination.Display}): AWS STS denied AssumeRole into {roleArn} (AccessDenied: {e.Message}). " +
                $"The customer's role trust policy must allow our principal ({principal}) to call sts:AssumeRole with the condition " +
                $"\"StringEquals\": {{\"sts:ExternalId\": \"{externalId}\"}}. Check that credentials.externalId in pipeline.json is exactly the ExternalId in that " +
                "trust policy, that credentials.roleArn names the customer's role, and that our identity may call sts:AssumeRole on it (`pipeline policy` prints the trust policy to send).", e),
            "InvalidClientTokenId" when secretName is not null => new SecretException(
                $"Destination \"{destination.Name}\": AWS does not recognize the access key id in secret \"{secretName}\" ({_secrets.Describe}) (InvalidClientTokenId). " +
                "The key was deleted or deactivated, or belongs to another AWS partition: store a current key of our IAM user."),
            "SignatureDoesNotMatch" when secretName is not null => new SecretException(
                $"Destination \"{destination.Name}\": the secretAccessKey in secret \"{secretName}\" ({_secrets.Describe}) does not belong to its accessKeyId (SignatureDoesNotMatch). " +
                "Store the pair exactly as AWS issued it."),
            "RegionDisabledException" => new DestinationException(
                $"Destination \"{destination.Name}\": AWS STS is not activated in region {RegionFor(destination.S3!)} for our account ({e.Message}). Activate it in IAM > Account settings, or set the destination's region.", e),
            _ => new DestinationException(
                $"Destination \"{destination.Name}\": AWS STS AssumeRole into {roleArn} failed ({e.ErrorCode}, HTTP {(int)e.StatusCode}): {e.Message}", e),
        };
    }

    private async Task<(AWSCredentials Session, string RoleArn)> WebIdentitySessionAsync(DestinationSpec destination, string region, CancellationToken cancellationToken)
    {
        if (_webIdentity is null || _options.WebIdentityRoleArn is null)
            throw new DestinationException(
                $"Destination \"{destination.Name}\" uses credentials mode \"assumeRole\" without credentials.secretName, which means web identity, but " +
                (_webIdentity is null ? "no web identity token provider is configured here (it is the Function App's managed identity in Azure)" : "no WebIdentityRoleArn (AWS_ROLE_ARN) names our AWS role that trusts it") +
                ". Set credentials.secretName to the secret holding our AWS key, or configure web identity.");
        var ourRole = _options.WebIdentityRoleArn;
        var slot = _webIdentitySessions.GetOrAdd(region, _ => new Slot());
        var session = await GetOrRenewAsync(slot, ct => FederateAsync(destination, ourRole, region, ct), _ => { }, cancellationToken);
        return (session, ourRole);
    }

    private async Task<Lease> FederateAsync(DestinationSpec destination, string ourRole, string region, CancellationToken cancellationToken)
    {
        var provider = _webIdentity!;
        for (var attempt = 1; ; attempt++)
        {
            string token;
            try
            {
                token = await provider.GetTokenAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Identity libraries' messages describe endpoints and configuration, never tokens.
                throw new DestinationException($"Destination \"{destination.Name}\": could not get a web identity token from {provider.Describe}: {e.Message}", e);
            }
            try
            {
                using var sts = _stsClients(null, region);
                var response = await sts.AssumeRoleWithWebIdentityAsync(new AssumeRoleWithWebIdentityRequest
                {
                    RoleArn = ourRole,
                    RoleSessionName = RoleSessionName.For(_options.RoleSessionNamePrefix, "web-identity"),
                    WebIdentityToken = token,
                    DurationSeconds = RoleChainingMaxSeconds,
                }, cancellationToken);
                var lease = LeaseFrom(response.Credentials, RoleChainingMaxSeconds);
                Log.Federated(_logger, ourRole, provider.Describe, lease.ExpiresAt!.Value);
                return lease;
            }
            catch (AmazonSecurityTokenServiceException e) when (IsExpiredToken(e) && attempt == 1)
            {
                Log.ExpiredTokenRetry(_logger, destination.Name, ourRole, e.ErrorCode);
            }
            catch (AmazonSecurityTokenServiceException e)
            {
                Log.StsRefused(_logger, destination.Name, "AssumeRoleWithWebIdentity", ourRole, e.ErrorCode);
                throw new DestinationException(
                    $"Destination \"{destination.Name}\": AWS STS refused our web identity from {provider.Describe} for our role {ourRole} ({e.ErrorCode}: {e.Message}). " +
                    "That role's trust policy must trust our identity provider as an IAM OIDC provider (for an Azure managed identity: https://sts.windows.net/{tenant}/ " +
                    "with audience api://AzureADTokenExchange) and allow sts:AssumeRoleWithWebIdentity for our identity's subject (its object id).", e);
            }
            catch (Exception e) when (e is AmazonClientException or HttpRequestException && e is not AmazonServiceException)
            {
                throw new DestinationException($"Destination \"{destination.Name}\": could not reach AWS STS ({region}) to federate into {ourRole}: {e.Message}", e);
            }
        }
    }

    private Lease LeaseFrom(Amazon.SecurityToken.Model.Credentials credentials, int durationSeconds)
    {
        var now = _time.GetUtcNow();
        var expiresAt = credentials.Expiration is { } expiration
            ? new DateTimeOffset(expiration.Kind == DateTimeKind.Unspecified ? expiration : expiration.ToUniversalTime(), TimeSpan.Zero)
            : now.AddSeconds(durationSeconds);
        var renewAt = expiresAt - _options.RefreshBefore;
        return new Lease(new SessionAWSCredentials(credentials.AccessKeyId, credentials.SecretAccessKey, credentials.SessionToken), renewAt, expiresAt);
    }

    private string RegionFor(S3DestinationOptions s3) =>
        s3.Region ?? _options.DefaultRegion ?? NonEmpty(Environment.GetEnvironmentVariable("AWS_REGION")) ?? NonEmpty(Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION")) ?? "us-east-1";

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static bool IsExpiredToken(AmazonServiceException e) => e.ErrorCode is "ExpiredToken" or "ExpiredTokenException";

    private static DestinationException MissingSetting(DestinationSpec destination, string field) =>
        new($"Destination \"{destination.Name}\": credentials mode \"{destination.S3!.Credentials}\" needs credentials.{field} in pipeline.json (`pipeline validate` lists what each mode requires).");

    /// <summary>Config that selects credentials; equal destinations share a cache entry, a changed config gets a new one.</summary>
    private readonly record struct DestinationKey(string Name, S3DestinationOptions Options);

    /// <summary>One cache entry: the current lease and a gate so only one caller renews it.</summary>
    private sealed class Slot
    {
        private Lease? _current;
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public Lease? Current { get => Volatile.Read(ref _current); set => Volatile.Write(ref _current, value); }
    }

    /// <summary>Credentials and when to renew them. No ToString that could print a key.</summary>
    private sealed class Lease(AWSCredentials credentials, DateTimeOffset renewAt, DateTimeOffset? expiresAt)
    {
        public AWSCredentials Credentials { get; } = credentials;
        public DateTimeOffset RenewAt { get; } = renewAt;
        public DateTimeOffset? ExpiresAt { get; } = expiresAt;
        public override string ToString() => $"Lease(renewAt: {RenewAt:u}, expiresAt: {ExpiresAt:u})";
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Destination {Destination}: AWS default credential chain resolved {CredentialsType}")]
        public static partial void DefaultChain(ILogger logger, string destination, string credentialsType);

        [LoggerMessage(2, LogLevel.Debug, "Destination {Destination}: read AWS key from secret {SecretName} in {Store}")]
        public static partial void KeyRead(ILogger logger, string destination, string secretName, string store);

        [LoggerMessage(3, LogLevel.Information, "Destination {Destination}: assumed role {RoleArn} as session {SessionName} until {Expiration:u}")]
        public static partial void AssumedRole(ILogger logger, string destination, string roleArn, string sessionName, DateTimeOffset expiration);

        [LoggerMessage(4, LogLevel.Information, "Federated into our role {RoleArn} with web identity from {Provider} until {Expiration:u}")]
        public static partial void Federated(ILogger logger, string roleArn, string provider, DateTimeOffset expiration);

        [LoggerMessage(5, LogLevel.Warning, "Destination {Destination}: STS {Action} into {RoleArn} failed with {ErrorCode}")]
        public static partial void StsRefused(ILogger logger, string destination, string action, string roleArn, string errorCode);

        [LoggerMessage(6, LogLevel.Information, "Destination {Destination}: credentials expire at {Expiration:u}; renewing them early")]
        public static partial void Renewing(ILogger logger, string destination, DateTimeOffset expiration);

        [LoggerMessage(7, LogLevel.Warning, "Destination {Destination}: STS answered {ErrorCode} for credentials of {RoleArn}; getting fresh ones and retrying once")]
        public static partial void ExpiredTokenRetry(ILogger logger, string destination, string roleArn, string errorCode);

        [LoggerMessage(8, LogLevel.Debug, "Destination {Destination}: cached credentials dropped")]
        public static partial void Invalidated(ILogger logger, string destination);
    }
}
