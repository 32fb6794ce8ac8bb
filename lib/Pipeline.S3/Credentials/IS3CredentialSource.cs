using Amazon.Runtime;
using Pipeline.Engine.Configuration;

namespace Pipeline.S3.Credentials;

/// <summary>
/// Turns a destination's credential mode into AWS credentials: the default chain, a customer key from the
/// secret store, our own key for cross-account writes, or an assumed role. Implementations cache and
/// refresh; callers ask per request batch.
/// </summary>
public interface IS3CredentialSource
{
    /// <summary>Credentials for the destination. Failures are <see cref="Engine.Ports.SecretException"/> or <see cref="Engine.Ports.DestinationException"/> with a fix, never a secret.</summary>
    Task<AWSCredentials> GetCredentialsAsync(DestinationSpec destination, CancellationToken cancellationToken);

    /// <summary>
    /// Drops the destination's cached credentials so the next <see cref="GetCredentialsAsync"/> reads the secret
    /// or assumes the role again. Call it when S3 answers ExpiredToken, InvalidToken or InvalidAccessKeyId, then
    /// retry that request once. Sources without a cache need not implement it.
    /// </summary>
    void Invalidate(DestinationSpec destination) { }
}
