using System.CommandLine;
using Azure;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Configuration;
using Pipeline.Azure.State;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Local;

namespace Pipeline.Cli;

/// <summary>
/// Where `run`, `export`, `runs`, `retry` and `config` keep run state: Azure Storage when the <c>PipelineStorage</c>
/// setting (or its <c>__</c> identity-based forms) is in the environment, read as the Functions host reads it; else
/// the embedded default (SQLite and a staging folder, from the config).
/// </summary>
internal sealed class Backend
{
    private PublishedConfig? _published;
    private bool _reachable;

    private Backend(StorageConnection? storage) => Storage = storage;

    /// <summary>The account, when the backend is Azure Storage.</summary>
    public StorageConnection? Storage { get; }

    public bool IsAzure => Storage is not null;

    /// <summary>Reads <c>PipelineStorage</c>; a malformed value or an unknown <c>PipelineStorage__*</c> name is a usage error naming it.</summary>
    public static Backend FromEnvironment()
    {
        try
        {
            return new Backend(StorageConnection.FromEnvironment());
        }
        catch (StorageConnectionException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>The first line of output on the Azure backend: which account, never a key or SAS.</summary>
    public string Banner => $"Backend: Azure Storage ({Storage!.Describe})";

    /// <summary>Prints <see cref="Banner"/> on the Azure backend; the embedded default prints nothing, as it always did.</summary>
    public void Announce(TextWriter? writer = null)
    {
        if (IsAzure) (writer ?? Console.Out).WriteLine(Banner);
    }

    /// <summary>
    /// The run state to read (for `runs` and `plan`), without creating any: the account's tables on Azure (which may
    /// not exist yet: reads then fail with 404), the state database otherwise; null when no local state exists.
    /// </summary>
    public async Task<IRunStore?> ReadRunStoreAsync(PipelineConfig config, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (IsAzure)
        {
            await CheckReachableAsync(cancellationToken);
            return new TableRunStore(Storage!.CreateTableServiceClient(), Storage.CreateBlobServiceClient());
        }
        return File.Exists(config.StatePath) ? await SqliteRunStore.OpenAsync(config.StatePath, cancellationToken) : null;
    }

    /// <summary>The storage account's published config (blob <c>config/pipeline.json</c>); Azure backend only.</summary>
    public PublishedConfig Published => _published ??= new PublishedConfig(Storage!.CreateBlobServiceClient());

    /// <summary>
    /// The config a command works with and how to name it in the commands it prints (null: the published one). On
    /// Azure without an explicit <c>--config</c>: the published config, checked first that the account answers.
    /// </summary>
    public async Task<(PipelineConfig Config, string? ConfigPath)> LoadConfigAsync(ParseResult parse, Option<string> configOption, CancellationToken cancellationToken)
    {
        var path = parse.GetValue(configOption)!;
        if (!IsAzure || parse.GetResult(configOption) is { Implicit: false }) return (ConfigLoader.Load(path), path);
        await CheckReachableAsync(cancellationToken);
        var load = await Published.LoadAsync(cancellationToken);
        if (load.Config is null)
            throw new UsageException($"{load.Problem} Or give --config FILE to run a local config on this account.");
        return (load.Config, null);
    }

    /// <summary>The config in force now, for `run`'s next tick: the file again, or the published one (the last good one if it broke).</summary>
    public async Task<PipelineConfig> ReloadAsync(PipelineConfig current, string? configPath, CancellationToken cancellationToken)
    {
        if (configPath is not null) return ConfigLoader.Load(configPath);
        var load = await Published.LoadAsync(cancellationToken);
        if (load.Problem is not null) Console.Error.WriteLine($"warning: {load.Problem} Keeping the config loaded before.");
        return load.Config ?? current;
    }

    /// <summary>Opens the pipeline on this backend; on Azure, an account that cannot be used is a usage error naming the setting.</summary>
    public async Task<IExportPipeline> OpenAsync(string statePath, string stagingPath, int parallelism, ExportWatchdogOptions watchdog,
        PipelineAdapters adapters, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (Storage is null)
        {
            return new LocalExportPipeline(await LocalPipeline.OpenAsync(statePath, stagingPath, TimeProvider.System, loggers, new LocalPipelineOptions
            {
                Parallelism = parallelism,
                Destinations = adapters.Destinations,
                Watchdog = watchdog,
                Sources = adapters.Sources,
            }, cancellationToken));
        }
        await CheckReachableAsync(cancellationToken);
        try
        {
            return await AzurePipeline.OpenAsync(Storage, adapters, loggers, new AzurePipelineOptions
            {
                Parallelism = parallelism,
                Watchdog = watchdog,
                Waiting = held => Console.Error.WriteLine(
                    $"Waiting for {CliContext.Count(held)} stage message(s) held by another process (a Functions instance or another `pipeline run`): " +
                    $"they are handled there, or come back here when that process's lease ends ({AzurePipelineOptions.DefaultLease.TotalSeconds:0} s for a `pipeline` process)."),
            }, cancellationToken);
        }
        catch (Exception e) when (Unusable(e) is { } message)
        {
            throw new UsageException(message);
        }
    }

    /// <summary>One read of the account, so a wrong endpoint, key or identity is reported as such before anything runs.</summary>
    public async Task CheckReachableAsync(CancellationToken cancellationToken)
    {
        if (_reachable) return;
        try
        {
            // Fewer retries than the work's clients: a wrong endpoint is reported in about two seconds, not fifteen; and
            // an endpoint that drops packets within a minute (3 tries of 20 s), not the SDK's 100 s a try.
            var options = new global::Azure.Storage.Blobs.BlobClientOptions { Retry = { MaxRetries = 2, NetworkTimeout = TimeSpan.FromSeconds(20) } };
            await Storage!.CreateBlobServiceClient(options).GetBlobContainerClient(PublishedConfig.ContainerName).ExistsAsync(cancellationToken);
            _reachable = true;
        }
        catch (Exception e) when (Unusable(e) is { } message)
        {
            throw new UsageException(message);
        }
    }

    /// <summary>
    /// Why the account cannot be used, naming the setting and the fix, from the status and error code only: the SDK's
    /// messages carry response details that are no use to the user.
    /// </summary>
    public string? Unusable(Exception e)
    {
        var setting = Storage!.Setting;
        // The SDK's retry policy gives up with an AggregateException of each try's failure.
        if (e is AggregateException { InnerExceptions: [.., RequestFailedException last] }) e = last;
        return e switch
        {
            RequestFailedException { Status: 0 } r =>
                $"Cannot reach the storage account ({Storage.Describe}): {r.InnerException?.Message ?? "no response"}. " +
                $"Fix: check the endpoints in {setting} and that the account (or Azurite) is running and reachable from here.",
            RequestFailedException { Status: 401 or 403 } r =>
                $"The storage account in {setting} refused this request ({StorageOutage.Describe(r)}). Fix: " +
                (Storage.IsIdentityBased
                    ? "grant the identity Storage Blob Data Contributor, Storage Queue Data Contributor and Storage Table Data Contributor on the account."
                    : $"copy the connection string into {setting} again from the storage account's Access keys (the key or SAS is wrong or expired)."),
            RequestFailedException r =>
                $"The storage account ({Storage.Describe}) answered {StorageOutage.Describe(r)}. Fix: check that {setting} names the right account.",
            AuthenticationFailedException a =>
                $"No Azure identity for {setting}: {a.Message.Split('\n')[0].Trim()} Fix: sign in with `az login` (and leave {setting}__credential unset), " +
                $"or on Azure give the app an identity ({setting}__credential=managedidentity, with {setting}__clientId for a user-assigned one).",
            _ => null,
        };
    }
}
