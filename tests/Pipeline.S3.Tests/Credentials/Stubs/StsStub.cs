using System.Collections.Concurrent;
using System.Globalization;
using System.Security;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.SecurityToken;

namespace Pipeline.Tests.Stubs;

/// <summary>One STS call as the stub saw it (form fields and who signed it).</summary>
internal sealed record StsCall(string Action, string? RoleArn, string? ExternalId, string? RoleSessionName, int? DurationSeconds, string? WebIdentityToken, string? SignedBy, string Answer);

/// <summary>
/// AWS STS on loopback, speaking the Query protocol (form POST, Action=..., Version=2011-06-15) and
/// answering the real XML, so the real <see cref="AmazonSecurityTokenServiceClient"/> runs end to end.
/// It checks SigV4 signatures against the users it knows, session tokens and their expiry (by the
/// injected clock), ExternalIds against each role's trust condition, RoleSessionName and
/// DurationSeconds rules (one hour for role chaining), and web identity tokens.
/// </summary>
internal sealed partial class StsStub : IAsyncDisposable
{
    public const string Namespace = "https://sts.amazonaws.com/doc/2011-06-15/";

    private readonly TimeProvider _time;
    private readonly LoopbackHttpServer _server;
    private readonly ConcurrentDictionary<string, Principal> _principals = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _rolesByExternalId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _webIdentityRoles = new(StringComparer.Ordinal);
    private int _issued;

    public StsStub(TimeProvider time)
    {
        _time = time;
        _server = new LoopbackHttpServer(HandleAsync);
    }

    public Uri Url => _server.BaseUri;

    public ConcurrentQueue<StsCall> Calls { get; } = new();

    /// <summary>An IAM user whose key may call AssumeRole.</summary>
    public void AddUser(string accessKeyId, string secretAccessKey, string? sessionToken = null, DateTimeOffset? expiresAt = null) =>
        _principals[accessKeyId] = new Principal($"arn:aws:iam::111122223333:user/audience-export", secretAccessKey, sessionToken, expiresAt ?? DateTimeOffset.MaxValue, IsRoleSession: false);

    /// <summary>A customer role whose trust policy requires <paramref name="externalId"/>.</summary>
    public void AddRole(string roleArn, string externalId) => _rolesByExternalId[roleArn] = externalId;

    /// <summary>Our role that trusts our identity provider and accepts <paramref name="token"/>.</summary>
    public void AddWebIdentityRole(string roleArn, string token) => _webIdentityRoles[roleArn] = token;

    /// <summary>Makes every session issued so far invalid, as if revoked: their next use gets ExpiredToken.</summary>
    public void ExpireIssuedSessions()
    {
        foreach (var (id, principal) in _principals)
            if (principal.IsRoleSession) _principals[id] = principal with { ExpiresAt = DateTimeOffset.MinValue };
    }

    /// <summary>A real STS client pointed at the stub, no retries (every answer of the stub is final).</summary>
    public IAmazonSecurityTokenService CreateClient(AWSCredentials? credentials, string region) =>
        new AmazonSecurityTokenServiceClient(credentials ?? new AnonymousAWSCredentials(), new AmazonSecurityTokenServiceConfig
        {
            ServiceURL = Url.ToString(),
            AuthenticationRegion = region,
            MaxErrorRetry = 0,
        });

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private Task<StubResponse> HandleAsync(StubRequest request)
    {
        var form = request.Form;
        var action = form.GetValueOrDefault("Action") ?? "";
        var call = new StsCall(action, form.GetValueOrDefault("RoleArn"), form.GetValueOrDefault("ExternalId"), form.GetValueOrDefault("RoleSessionName"),
            form.TryGetValue("DurationSeconds", out var d) ? int.Parse(d, CultureInfo.InvariantCulture) : null, form.GetValueOrDefault("WebIdentityToken"), SignerOf(request), "");
        var (response, answer) = Answer(request, form, call);
        Calls.Enqueue(call with { Answer = answer });
        return Task.FromResult(response);
    }

    private (StubResponse, string) Answer(StubRequest request, IReadOnlyDictionary<string, string> form, StsCall call)
    {
        if (request.Method != "POST" || form.GetValueOrDefault("Version") != "2011-06-15") return Error(400, "InvalidAction", "Expected a Query-protocol POST with Version=2011-06-15.");
        if (call.RoleSessionName is null || !SessionNamePattern().IsMatch(call.RoleSessionName))
            return Error(400, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*");
        var duration = call.DurationSeconds ?? 3600;
        if (duration is < 900 or > 43_200) return Error(400, "ValidationError", "DurationSeconds must be between 900 and 43200.");
        switch (call.Action)
        {
            case "AssumeRole":
            {
                if (CheckSignature(request) is { } failure) return failure;
                var signer = _principals[call.SignedBy!];
                if (call.RoleArn is null || !_rolesByExternalId.TryGetValue(call.RoleArn, out var externalId) || call.ExternalId != externalId)
                    return Error(403, "AccessDenied", $"User: {signer.Arn} is not authorized to perform: sts:AssumeRole on resource: {call.RoleArn}");
                if (signer.IsRoleSession && duration > 3600)
                    return Error(400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");
                return Issue("AssumeRole", call.RoleArn, call.RoleSessionName, duration, "");
            }
            case "AssumeRoleWithWebIdentity":
            {
                if (request.Header("Authorization") is not null) return Error(400, "InvalidParameterValue", "AssumeRoleWithWebIdentity is not signed.");
                if (call.RoleArn is null || !_webIdentityRoles.TryGetValue(call.RoleArn, out var token))
                    return Error(403, "AccessDenied", $"Not authorized to perform sts:AssumeRoleWithWebIdentity on {call.RoleArn}");
                if (call.WebIdentityToken != token) return Error(400, "InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS.");
                var extra = "<SubjectFromWebIdentityToken>00000000-0000-0000-0000-00000000aaaa</SubjectFromWebIdentityToken><Audience>api://AzureADTokenExchange</Audience><Provider>sts.windows.net/tenant/</Provider>";
                return Issue("AssumeRoleWithWebIdentity", call.RoleArn, call.RoleSessionName, duration, extra);
            }
            default:
                return Error(400, "InvalidAction", $"Could not find operation {call.Action} for version 2011-06-15");
        }
    }

    private (StubResponse, string) Issue(string action, string roleArn, string sessionName, int duration, string extra)
    {
        var n = Interlocked.Increment(ref _issued);
        var accessKeyId = $"ASIASTUB{n:D12}";
        var secret = $"stub-session-secret-{n}";
        var token = $"stub-session-token-{n}";
        var expires = _time.GetUtcNow().AddSeconds(duration);
        var roleName = roleArn[(roleArn.LastIndexOf('/') + 1)..];
        _principals[accessKeyId] = new Principal($"arn:aws:sts::444455556666:assumed-role/{roleName}/{sessionName}", secret, token, expires, IsRoleSession: true);
        var xml = $"""
            <{action}Response xmlns="{Namespace}">
              <{action}Result>
                {extra}
                <AssumedRoleUser>
                  <Arn>arn:aws:sts::444455556666:assumed-role/{SecurityElement.Escape(roleName)}/{SecurityElement.Escape(sessionName)}</Arn>
                  <AssumedRoleId>AROASTUB{n:D12}:{SecurityElement.Escape(sessionName)}</AssumedRoleId>
                </AssumedRoleUser>
                <Credentials>
                  <AccessKeyId>{accessKeyId}</AccessKeyId>
                  <SecretAccessKey>{secret}</SecretAccessKey>
                  <SessionToken>{token}</SessionToken>
                  <Expiration>{expires.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}</Expiration>
                </Credentials>
                <PackedPolicySize>6</PackedPolicySize>
              </{action}Result>
              <ResponseMetadata><RequestId>{Guid.NewGuid()}</RequestId></ResponseMetadata>
            </{action}Response>
            """;
        return (StubResponse.Xml(200, xml), accessKeyId);
    }

    private static (StubResponse, string) Error(int status, string code, string message) =>
        (StubResponse.Xml(status, $"""
            <ErrorResponse xmlns="{Namespace}">
              <Error><Type>Sender</Type><Code>{code}</Code><Message>{SecurityElement.Escape(message)}</Message></Error>
              <RequestId>{Guid.NewGuid()}</RequestId>
            </ErrorResponse>
            """), code);

    private static string? SignerOf(StubRequest request) =>
        request.Header("Authorization") is { } auth && CredentialPattern().Match(auth) is { Success: true } m ? m.Groups["key"].Value : null;

    /// <summary>Verifies AWS Signature Version 4 the way STS does; null when the request is authentic.</summary>
    private (StubResponse, string)? CheckSignature(StubRequest request)
    {
        var auth = request.Header("Authorization");
        var match = auth is null ? null : AuthorizationPattern().Match(auth);
        if (match is not { Success: true }) return Error(400, "MissingAuthenticationToken", "Request is missing Authentication Token");
        var keyId = match.Groups["key"].Value;
        if (!_principals.TryGetValue(keyId, out var principal)) return Error(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
        if (principal.SessionToken is not null)
        {
            if (request.Header("X-Amz-Security-Token") != principal.SessionToken) return Error(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
            if (_time.GetUtcNow() >= principal.ExpiresAt) return Error(400, "ExpiredToken", "The security token included in the request is expired");
        }
        var signedHeaders = match.Groups["headers"].Value;
        var canonicalHeaders = string.Concat(signedHeaders.Split(';').Select(h => $"{h}:{Collapse(request.Header(h) ?? "")}\n"));
        var payloadHash = request.Header("X-Amz-Content-SHA256") ?? Hex(SHA256.HashData(request.Body));
        var canonicalRequest = $"{request.Method}\n{request.Path}\n{CanonicalQuery(request)}\n{canonicalHeaders}\n{signedHeaders}\n{payloadHash}";
        var scope = $"{match.Groups["date"].Value}/{match.Groups["region"].Value}/{match.Groups["service"].Value}/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{request.Header("X-Amz-Date")}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + principal.Secret);
        foreach (var part in new[] { match.Groups["date"].Value, match.Groups["region"].Value, match.Groups["service"].Value, "aws4_request" })
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        var expected = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        return expected == match.Groups["signature"].Value ? null
            : Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.");
    }

    private static string CanonicalQuery(StubRequest request) =>
        string.Join('&', request.Query.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}"));

    private static string Collapse(string value) => WhitespaceRun().Replace(value.Trim(), " ");

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    [GeneratedRegex(@"^AWS4-HMAC-SHA256 Credential=(?<key>[^/]+)/(?<date>\d{8})/(?<region>[^/]+)/(?<service>[^/]+)/aws4_request, ?SignedHeaders=(?<headers>[^,]+), ?Signature=(?<signature>[0-9a-f]{64})$")]
    private static partial Regex AuthorizationPattern();

    [GeneratedRegex(@"Credential=(?<key>[^/]+)/")]
    private static partial Regex CredentialPattern();

    [GeneratedRegex(@"^[\w+=,.@-]{2,64}$")]
    private static partial Regex SessionNamePattern();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespaceRun();

    private sealed record Principal(string Arn, string Secret, string? SessionToken, DateTimeOffset ExpiresAt, bool IsRoleSession);
}
