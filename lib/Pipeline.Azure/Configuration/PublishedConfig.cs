using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Engine.Configuration;

namespace Pipeline.Azure.Configuration;

/// <summary>
/// The activations config the Functions app (and the CLI on the Azure backend) runs: one <c>pipeline.json</c> blob in
/// the <see cref="ContainerName"/> container, written by <c>pipeline config push</c> after it validated. Readers keep
/// the last config that loaded: a blob that fails to load is reported and the last good one stays in force.
/// </summary>
public sealed class PublishedConfig
{
    public const string ContainerName = "config";
    public const string BlobName = "pipeline.json";

    private readonly BlobContainerClient _container;
    private readonly BlobClient _blob;
    // Two loads at once may both parse; either result is a config that loaded, so no lock is needed.
    private volatile LastGood? _lastGood;

    private sealed record LastGood(ETag ETag, PipelineConfig Config);

    public PublishedConfig(BlobServiceClient service)
    {
        ArgumentNullException.ThrowIfNull(service);
        _container = service.GetBlobContainerClient(ContainerName);
        _blob = _container.GetBlobClient(BlobName);
    }

    /// <summary>Where the config is published, for messages (no query string, so never a SAS).</summary>
    public string Location => new UriBuilder(_blob.Uri) { Query = "" }.Uri.ToString();

    /// <summary>
    /// Parses a published text the way every reader will: relative paths are relative to the process's working folder
    /// (a published config normally names blob URLs and S3 buckets), and problems name the published blob.
    /// </summary>
    public PipelineConfig Parse(string json)
    {
        try
        {
            return ConfigLoader.Parse(json, Path.Combine(Environment.CurrentDirectory, ConfigLoader.DefaultFileName)) with { FilePath = Location };
        }
        catch (ConfigException e)
        {
            throw new ConfigException(Location, e.Problems);
        }
    }

    /// <summary>Publishes <paramref name="json"/> after checking that it loads; an invalid config is refused and the published one stays.</summary>
    public async Task<PipelineConfig> PublishAsync(string json, CancellationToken cancellationToken)
    {
        var config = Parse(json);
        try
        {
            await _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            // One Put Blob: readers see the old config or the new one, never half of it.
            await _blob.UploadAsync(BinaryData.FromString(json), new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } },
                cancellationToken);
        }
        catch (RequestFailedException e)
        {
            throw new IOException($"Cannot publish the config to {Location}: {e.Status} {e.ErrorCode}. " +
                                  "Fix: grant the identity Storage Blob Data Contributor on the storage account.", e);
        }
        return config;
    }

    /// <summary>
    /// The config in force: the published one if it loads, else the last good one this process read (with the reason
    /// in <see cref="ConfigLoad.Problem"/>). Unchanged blobs are not parsed again.
    /// </summary>
    public async Task<ConfigLoad> LoadAsync(CancellationToken cancellationToken)
    {
        BlobDownloadResult download;
        try
        {
            var response = await _blob.DownloadContentAsync(
                new BlobDownloadOptions { Conditions = _lastGood is { } last ? new BlobRequestConditions { IfNoneMatch = last.ETag } : null },
                cancellationToken);
            // A 304 is not thrown: it comes back as a response without a body.
            if (response.GetRawResponse().Status == 304 && _lastGood is { } same) return new ConfigLoad(same.Config, null);
            download = response.Value;
        }
        catch (RequestFailedException e) when (e.Status == 304 && _lastGood is { } unchanged)
        {
            return new ConfigLoad(unchanged.Config, null);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return KeepLastGood($"No config is published at {Location}. Fix: publish one with `pipeline config push --config pipeline.json`.");
        }
        catch (RequestFailedException e)
        {
            return KeepLastGood($"Cannot read the published config {Location}: {e.Status} {e.ErrorCode}. " +
                                "Fix: grant the identity Storage Blob Data Reader (or Contributor) on the storage account.");
        }
        try
        {
            var config = Parse(download.Content.ToString());
            _lastGood = new LastGood(download.Details.ETag, config);
            return new ConfigLoad(config, null);
        }
        catch (ConfigException e)
        {
            return KeepLastGood(e.Message);
        }
    }

    private ConfigLoad KeepLastGood(string problem) => new(_lastGood?.Config, problem);
}

/// <summary>The config in force (null if none ever loaded) and, when the published one could not be used, why.</summary>
public sealed record ConfigLoad(PipelineConfig? Config, string? Problem);
