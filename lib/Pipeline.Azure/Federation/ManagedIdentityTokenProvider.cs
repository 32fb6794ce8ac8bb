using Pipeline.Engine.Ports;
using Azure.Core;
using Azure.Identity;

namespace Pipeline.Azure.Federation;

/// <summary>
/// The Function App's managed identity as an OpenID Connect token for AWS: a Microsoft Entra token for
/// audience <c>api://AzureADTokenExchange</c>, which an IAM OIDC provider for
/// <c>https://sts.windows.net/{tenant}/</c> accepts in AssumeRoleWithWebIdentity. No AWS key is stored.
/// </summary>
public sealed class ManagedIdentityTokenProvider : IWebIdentityTokenProvider
{
    /// <summary>The audience Entra ID issues federation tokens for.</summary>
    public const string Audience = "api://AzureADTokenExchange";

    private static readonly TokenRequestContext Request = new([Audience + "/.default"]);

    private readonly TokenCredential _credential;

    /// <param name="credential">Usually <see cref="ManagedIdentityCredential"/>; any credential that can get a token for <see cref="Audience"/>.</param>
    /// <param name="describe">For messages, e.g. "Azure managed identity (system-assigned)".</param>
    public ManagedIdentityTokenProvider(TokenCredential credential, string? describe = null)
    {
        _credential = credential ?? throw new ArgumentNullException(nameof(credential));
        Describe = describe ?? $"Azure identity {credential.GetType().Name}";
    }

    /// <summary>The system-assigned identity, or the user-assigned one with <paramref name="clientId"/>.</summary>
    public static ManagedIdentityTokenProvider ForManagedIdentity(string? clientId = null) =>
        clientId is null
            ? new(new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned), "Azure managed identity (system-assigned)")
            : new(new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId)), $"Azure managed identity (client id {clientId})");

    public string Describe { get; }

    public async Task<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        // Azure.Identity caches the token and renews it before it expires.
        var token = await _credential.GetTokenAsync(Request, cancellationToken);
        return token.Token;
    }

    public override string ToString() => Describe;
}
