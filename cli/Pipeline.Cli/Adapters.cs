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
    private readonly Lazy<S3DestinationFactory> _s3;

    public Adapters(SecretsSpec secrets, ILoggerFactory loggers)
    {
        var stores = new List<ISecretStore> { new EnvironmentSecretStore() };
        if (secrets.File is { } file) stores.Add(new FileSecretStore(file, loggers.CreateLogger<FileSecretStore>()));
        if (secrets.KeyVaultUri is { } vault)
            stores.Add(new KeyVaultSecretStore(new Uri(vault), new DefaultAzureCredential(), logger: loggers.CreateLogger<KeyVaultSecretStore>()));
        Secrets = new ChainedSecretStore(stores);
        // The AWS SDK is loaded only when an S3 destination is used: local exports don't pay for it at start-up.
        _s3 = new Lazy<S3DestinationFactory>(() => new S3DestinationFactory(
            new S3CredentialSource(Secrets,
                new S3CredentialSourceOptions { WebIdentityRoleArn = Environment.GetEnvironmentVariable("AWS_ROLE_ARN") },
                timeProvider: TimeProvider.System, logger: loggers.CreateLogger<S3CredentialSource>()),
            loggers, TimeProvider.System));
        Destinations = new DestinationFactories(new LocalDestinationFactory(), new OnFirstUse(this));
    }

    public ISecretStore Secrets { get; }

    public IDestinationFactory Destinations { get; }

    public S3DestinationFactory S3 => _s3.Value;

    public void Dispose()
    {
        if (_s3.IsValueCreated) _s3.Value.Dispose();
    }

    private sealed class OnFirstUse(Adapters adapters) : IDestinationFactory
    {
        public bool CanOpen(string type) => type == DestinationSpec.S3Type;

        public IExportDestination Open(DestinationSpec spec) => adapters.S3.Open(spec);
    }
}
