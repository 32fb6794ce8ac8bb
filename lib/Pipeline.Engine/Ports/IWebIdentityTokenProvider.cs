namespace Pipeline.Engine.Ports;

/// <summary>
/// An OpenID Connect token proving who we are, exchanged at AWS STS (AssumeRoleWithWebIdentity) for our
/// own AWS role, so no long-lived AWS key is stored anywhere. In Azure: the Function App's managed
/// identity token for audience <c>api://AzureADTokenExchange</c> (Pipeline.Azure).
/// </summary>
public interface IWebIdentityTokenProvider
{
    /// <summary>Where tokens come from, for messages (e.g. "Azure managed identity (system-assigned)"); never a token.</summary>
    string Describe { get; }

    /// <summary>A current token. Tokens are secrets: never log or print them.</summary>
    Task<string> GetTokenAsync(CancellationToken cancellationToken);
}
