using Azure.Storage.Blobs;
using Pipeline.Azure.Configuration;
using Pipeline.Engine.Configuration;

namespace Pipeline.Azure.Tests.Storage.Azurite;

/// <summary>The published activations config: readers keep the last good one, and an unchanged blob is not read again.</summary>
[Category("Integration")]
[NonParallelizable]
public sealed class PublishedConfigTests
{
    private const string Valid = """{ "sources": { "p": { "path": "/snapshots/p.csv" } }, "destinations": { "d": { "type": "local", "path": "/out" } }, "activations": [] }""";

    private BlobServiceClient _blobs = null!;

    [SetUp]
    public async Task NoConfigPublished()
    {
        _blobs = new BlobServiceClient(AzuriteSetUp.Endpoints.ConnectionString);
        await _blobs.GetBlobContainerClient(PublishedConfig.ContainerName).DeleteBlobIfExistsAsync(PublishedConfig.BlobName);
    }

    [Test]
    public async Task Loading_an_unchanged_config_again_returns_the_same_config()
    {
        var published = new PublishedConfig(_blobs);
        await published.PublishAsync(Valid, CancellationToken.None);
        var reader = new PublishedConfig(_blobs);

        var first = await reader.LoadAsync(CancellationToken.None);
        var second = await reader.LoadAsync(CancellationToken.None);

        Assert.That(first.Problem, Is.Null);
        Assert.That(second.Problem, Is.Null);
        Assert.That(second.Config, Is.SameAs(first.Config), "a 304 keeps the parsed config");
    }

    [Test]
    public async Task A_broken_blob_keeps_the_last_good_config_in_force_and_says_why()
    {
        var reader = new PublishedConfig(_blobs);
        await new PublishedConfig(_blobs).PublishAsync(Valid, CancellationToken.None);
        var good = await reader.LoadAsync(CancellationToken.None);
        await _blobs.GetBlobContainerClient(PublishedConfig.ContainerName).GetBlobClient(PublishedConfig.BlobName)
            .UploadAsync(BinaryData.FromString("""{ "activations": [ { "id": "x" } ] }"""), overwrite: true);

        var load = await reader.LoadAsync(CancellationToken.None);

        Assert.That(load.Config, Is.SameAs(good.Config));
        Assert.That(load.Problem, Does.Contain(PublishedConfig.ContainerName + "/" + PublishedConfig.BlobName));
    }

    [Test]
    public async Task Without_a_published_config_nothing_is_in_force_and_the_fix_is_named()
    {
        var load = await new PublishedConfig(_blobs).LoadAsync(CancellationToken.None);

        Assert.That(load.Config, Is.Null);
        Assert.That(load.Problem, Does.Contain("pipeline config push"));
    }

    [Test]
    public async Task An_invalid_config_is_refused_before_it_is_published()
    {
        await Assert.ThrowsAsync<ConfigException>(() => new PublishedConfig(_blobs).PublishAsync("""{ "activations": 3 }""", CancellationToken.None));
    }
}
