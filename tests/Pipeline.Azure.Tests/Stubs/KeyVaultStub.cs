using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Pipeline.Tests.Stubs;

namespace Pipeline.Azure.Tests.Stubs;

/// <summary>
/// Azure Key Vault and its Microsoft Entra ID token endpoint on one loopback HTTPS server, speaking the
/// real protocols so the real <c>SecretClient</c> and <c>ClientSecretCredential</c> run end to end:
/// <list type="bullet">
/// <item>Key Vault challenge: a request without a valid bearer token gets 401 with
/// <c>WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="https://vault.azure.net"</c>.</item>
/// <item>Entra ID: OpenID discovery and <c>POST /{tenant}/oauth2/v2.0/token</c> (client credentials grant) that
/// checks the client id, client secret and scope and issues an access token.</item>
/// <item><c>GET /secrets/{name}/?api-version=...</c> with that token: 200 with the secret bundle, 404 SecretNotFound,
/// or 403 Forbidden for names the test denies.</item>
/// </list>
/// </summary>
internal sealed partial class KeyVaultStub : IAsyncDisposable
{
    public const string Tenant = "7c4a3c2e-0000-4000-8000-00000000abcd";
    public const string ClientId = "3b1f5e9a-0000-4000-8000-0000000c1d01";
    public const string VaultResource = "https://vault.azure.net";

    private readonly LoopbackHttpServer _server;
    private readonly string _clientSecret;
    private readonly ConcurrentDictionary<string, string> _issuedTokens = new(StringComparer.Ordinal);
    private int _tokenCount;

    public KeyVaultStub(LoopbackCertificate certificate, string clientSecret)
    {
        _clientSecret = clientSecret;
        _server = new LoopbackHttpServer(HandleAsync, certificate.Certificate);
    }

    public Uri VaultUri => _server.BaseUri;

    /// <summary>Entra ID lives on the same server: use as the credential's AuthorityHost.</summary>
    public Uri AuthorityHost => _server.BaseUri;

    public ConcurrentDictionary<string, string> Secrets { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Secrets the identity may not read (403, as with a missing role assignment).</summary>
    public ConcurrentDictionary<string, bool> Denied { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>"{method} {path} {auth}" per request, auth being "no-auth", "bearer-ok" or "bearer-bad"; token requests as "token {scope}".</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private Task<StubResponse> HandleAsync(StubRequest request)
    {
        var path = request.Path;
        if (path.StartsWith($"/{Tenant}/", StringComparison.Ordinal) || path.StartsWith("/common/", StringComparison.Ordinal)) return Task.FromResult(Entra(request));
        if (SecretPath().Match(path) is { Success: true } match) return Task.FromResult(Vault(request, Uri.UnescapeDataString(match.Groups["name"].Value)));
        Log.Enqueue($"{request.Method} {path} unexpected");
        return Task.FromResult(StubResponse.Json(400, """{"error":{"code":"BadParameter","message":"The request URI is not supported by the stub."}}"""));
    }

    private StubResponse Vault(StubRequest request, string name)
    {
        var authorization = request.Header("Authorization");
        var auth = authorization is null ? "no-auth"
            : authorization.StartsWith("Bearer ", StringComparison.Ordinal) && _issuedTokens.ContainsKey(authorization["Bearer ".Length..]) ? "bearer-ok"
            : "bearer-bad";
        Log.Enqueue($"{request.Method} {request.Path} {auth}");
        if (request.Query.GetValueOrDefault("api-version") is null)
            return StubResponse.Json(400, """{"error":{"code":"MissingApiVersionParameter","message":"The api-version query parameter (?api-version=) is required for all requests."}}""");
        if (auth != "bearer-ok")
            return StubResponse.Json(401, """{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}""", new Dictionary<string, string>
            {
                ["WWW-Authenticate"] = $"Bearer authorization=\"https://login.microsoftonline.com/{Tenant}\", resource=\"{VaultResource}\"",
            });
        if (Denied.ContainsKey(name))
            return StubResponse.Json(403, JsonSerializer.Serialize(new
            {
                error = new
                {
                    code = "Forbidden",
                    message = "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
                        $"Caller: appid={ClientId};oid=00000000-0000-0000-0000-000000000001\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n" +
                        $"Resource: '/subscriptions/x/resourcegroups/rg/providers/microsoft.keyvault/vaults/stub/secrets/{name}'\r\nAssignment: (not found)\r\nVault: stub;location=westeurope\r\n",
                    innererror = new { code = "ForbiddenByRbac" },
                },
            }));
        if (!Secrets.TryGetValue(name, out var value))
            return StubResponse.Json(404, $$$"""{"error":{"code":"SecretNotFound","message":"A secret with (name/id) {{{name}}} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}}""");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return StubResponse.Json(200, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["value"] = value,
            ["id"] = $"{VaultUri}secrets/{name}/4387e9f3d6e14c459867679a90fd0f79",
            ["attributes"] = new Dictionary<string, object> { ["enabled"] = true, ["created"] = created, ["updated"] = created, ["recoveryLevel"] = "Recoverable+Purgeable", ["recoverableDays"] = 90 },
            ["tags"] = new Dictionary<string, string>(),
        }));
    }

    private StubResponse Entra(StubRequest request)
    {
        var authority = $"{AuthorityHost}{Tenant}";
        if (request.Method == "GET" && request.Path.EndsWith("/.well-known/openid-configuration", StringComparison.Ordinal))
        {
            Log.Enqueue("GET openid-configuration");
            return StubResponse.Json(200, $$"""
                {"token_endpoint":"{{authority}}/oauth2/v2.0/token","authorization_endpoint":"{{authority}}/oauth2/v2.0/authorize",
                 "issuer":"{{authority}}/v2.0","jwks_uri":"{{authority}}/discovery/v2.0/keys","response_types_supported":["code","id_token","code id_token","id_token token"],
                 "token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"],"tenant_region_scope":"EU"}
                """);
        }
        if (request.Method == "POST" && request.Path == $"/{Tenant}/oauth2/v2.0/token")
        {
            var form = request.Form;
            var scope = form.GetValueOrDefault("scope") ?? "";
            Log.Enqueue($"token {scope}");
            if (form.GetValueOrDefault("grant_type") != "client_credentials" || form.GetValueOrDefault("client_id") != ClientId || form.GetValueOrDefault("client_secret") != _clientSecret)
                return StubResponse.Json(401, $$"""{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{{ClientId}}'.","error_codes":[7000215],"timestamp":"2026-11-23 12:00:00Z","trace_id":"t","correlation_id":"c"}""");
            var token = $"stub-access-token-{Interlocked.Increment(ref _tokenCount).ToString(CultureInfo.InvariantCulture)}";
            _issuedTokens[token] = scope;
            return StubResponse.Json(200, $$"""{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{{token}}"}""");
        }
        Log.Enqueue($"{request.Method} {request.Path} unexpected-entra");
        return StubResponse.Json(404, """{"error":"not_found"}""");
    }

    [GeneratedRegex("^/secrets/(?<name>[^/]+)/?$")]
    private static partial Regex SecretPath();
}
