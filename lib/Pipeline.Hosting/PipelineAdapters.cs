using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Federation;
using Pipeline.Azure.Secrets;
using Pipeline.Azure.Sources;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;
using Pipeline.Local;
using Pipeline.Local.Secrets;
using Pipeline.S3.Credentials;
using Pipeline.S3.Delivery;

namespace Pipeline.Hosting;

/// <summary>How <see cref="PipelineAdapters"/> reaches Azure and AWS; the defaults read the process environment.</summary>
public sealed record PipelineAdapterOptions
{
    /// <summary>Our AWS role for web identity (<c>assumeRole</c> without a secret); default <c>AWS_ROLE_ARN</c>.</summary>
    public string? AwsRoleArn { get; init; } = NullIfEmpty(Environment.GetEnvironmentVariable("AWS_ROLE_ARN"));

    /// <summary>
    /// Key Vault to read secrets from when the config names none; default the Functions app's setting
    /// <c>Pipeline__KeyVaultUri</c>, so a `pipeline` process serving the same account reads the same vault.
    /// </summary>
    public string? KeyVaultUri { get; init; } = NullIfEmpty(Environment.GetEnvironmentVariable("Pipeline__KeyVaultUri"));

    /// <summary>The Azure identity for Key Vault and the web identity token; default <see cref="DefaultAzureCredential"/>.</summary>
    public TokenCredential? AzureCredential { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    // An empty setting (local.settings.sample.json lists every setting, most of them empty) means "not set".
    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>
/// The adapters both hosts ship with: local-folder and S3 destinations; secrets from <c>PIPELINE_SECRET_*</c>
/// environment variables, then the config's secrets file, then Key Vault when a vault URI is configured; web identity
/// for AWS from the Azure identity when our AWS role is set; snapshots from local paths and blob URLs. The CLI and the Functions app build theirs here, so one
/// place says which implementation runs where.
/// </summary>
public sealed class PipelineAdapters : IDisposable
{
    private readonly Lazy<S3DestinationFactory> _s3;

    public PipelineAdapters(SecretsSpec secrets, ILoggerFactory loggers, PipelineAdapterOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(loggers);
        options ??= new PipelineAdapterOptions();
        var credential = new Lazy<TokenCredential>(() => options.AzureCredential ?? new DefaultAzureCredential());
        var stores = new List<ISecretStore> { new EnvironmentSecretStore() };
        if (secrets.File is { } file) stores.Add(new FileSecretStore(file, loggers.CreateLogger<FileSecretStore>()));
        if ((secrets.KeyVaultUri ?? options.KeyVaultUri) is { } vault)
            stores.Add(new KeyVaultSecretStore(new Uri(vault), credential.Value, logger: loggers.CreateLogger<KeyVaultSecretStore>()));
        Secrets = new ChainedSecretStore(stores);
        // The AWS SDK is loaded only when an S3 destination is used: local exports don't pay for it at start-up.
        _s3 = new Lazy<S3DestinationFactory>(() => new S3DestinationFactory(
            new S3CredentialSource(Secrets,
                new S3CredentialSourceOptions { WebIdentityRoleArn = options.AwsRoleArn },
                webIdentity: options.AwsRoleArn is null ? null : new ManagedIdentityTokenProvider(credential.Value),
                timeProvider: options.Time, logger: loggers.CreateLogger<S3CredentialSource>()),
            loggers, options.Time));
        Destinations = new DestinationFactories(new LocalDestinationFactory(), new OnFirstUse(this));
        Sources = CreateSources(options.AzureCredential);
    }

    /// <summary>
    /// Local paths, and blob URLs: read with the <c>PipelineStorage</c> connection's credential for its own account,
    /// Azurite's development key, or <paramref name="credential"/> (default: <see cref="DefaultAzureCredential"/>).
    /// PipelineStorage is read from the environment only when a blob URL is used.
    /// </summary>
    public static ISourceStore CreateSources(TokenCredential? credential = null) =>
        new SourceStores(FileSourceStore.Instance, new BlobSourceStore(() => StorageConnection.FromEnvironment(), credential));

    public ISecretStore Secrets { get; }

    public IDestinationFactory Destinations { get; }

    public ISourceStore Sources { get; }

    public S3DestinationFactory S3 => _s3.Value;

    public void Dispose()
    {
        if (_s3.IsValueCreated) _s3.Value.Dispose();
    }

    private sealed class OnFirstUse(PipelineAdapters adapters) : IDestinationFactory
    {
        public bool CanOpen(string type) => type == DestinationSpec.S3Type;

        public IExportDestination Open(DestinationSpec spec) => adapters.S3.Open(spec);
    }
}
