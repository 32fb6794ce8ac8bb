using Azure.Identity;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Secrets;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Local;
using Pipeline.Local.Secrets;
using Pipeline.S3.Credentials;
using Pipeline.S3.Delivery;

namespace Pipeline.Cli;

/// <summary>
/// The adapters the CLI ships with: local folders and S3 destinations; secrets from PIPELINE_SECRET_*
/// environment variables, then the config's secrets file, then Key Vault when a vault URI is configured.
/// </summary>
internal sealed class Adapters : IDisposable
{
    private readonly S3DestinationFactory _s3;

    public Adapters(SecretsSpec secrets, ILoggerFactory loggers)
    {
        var stores = new List<ISecretStore> { new EnvironmentSecretStore() };
        if (secrets.File is { } file) stores.Add(new FileSecretStore(file, loggers.CreateLogger<FileSecretStore>()));
        if (secrets.KeyVaultUri is { } vault)
            stores.Add(new KeyVaultSecretStore(new Uri(vault), new DefaultAzureCredential(), logger: loggers.CreateLogger<KeyVaultSecretStore>()));
        Secrets = new ChainedSecretStore(stores);
        var credentials = new S3CredentialSource(Secrets,
            new S3CredentialSourceOptions { WebIdentityRoleArn = Environment.GetEnvironmentVariable("AWS_ROLE_ARN") },
            timeProvider: TimeProvider.System, logger: loggers.CreateLogger<S3CredentialSource>());
        _s3 = new S3DestinationFactory(credentials, loggers, TimeProvider.System);
        Destinations = new DestinationFactories(new LocalDestinationFactory(), _s3);
    }

    public ISecretStore Secrets { get; }

    public IDestinationFactory Destinations { get; }

    public S3DestinationFactory S3 => _s3;

    public void Dispose() => _s3.Dispose();
}
