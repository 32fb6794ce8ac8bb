using Amazon.Runtime;
using Pipeline.Engine.Configuration;
using Pipeline.S3.Credentials;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>The emulators' key pair; the real credential modes are tested with their own source.</summary>
internal sealed class TestCredentials : IS3CredentialSource
{
    public static readonly AWSCredentials Key = new BasicAWSCredentials("test", "test");

    private int _calls;

    public int Calls => _calls;

    public Task<AWSCredentials> GetCredentialsAsync(DestinationSpec destination, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(Key);
    }
}
