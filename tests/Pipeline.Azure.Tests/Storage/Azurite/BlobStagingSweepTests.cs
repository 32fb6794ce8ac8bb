using Azure.Storage.Blobs;
using Pipeline.Azure.Storage;

namespace Pipeline.Azure.Tests.Storage.Azurite;

/// <summary>The daily sweep of staging: blobs older than the age go, unless a run still in progress owns them.</summary>
[Category("Integration")]
public sealed class BlobStagingSweepTests
{
    private BlobContainerClient _container = null!;
    private BlobStagingStore _staging = null!;

    [SetUp]
    public async Task FreshContainer()
    {
        _container = new BlobServiceClient(AzuriteSetUp.Endpoints.ConnectionString).GetBlobContainerClient("sweep-" + Guid.NewGuid().ToString("N")[..12]);
        await _container.CreateAsync();
        _staging = new BlobStagingStore(_container);
        foreach (var key in new[] { "gone-run/s00000-c000000.part", "gone-run/header.part", "live-run/s00000-c000000.part", "live-run-attempt2/s00001-c000000.part" })
            await _staging.WriteAsync(key, new byte[] { 1, 2, 3 }, CancellationToken.None);
    }

    [TearDown]
    public async Task DeleteContainer()
    {
        if (_container is not null) await _container.DeleteIfExistsAsync();
    }

    private async Task<List<string>> NamesAsync()
    {
        var names = new List<string>();
        await foreach (var blob in _container.GetBlobsAsync()) names.Add(blob.Name);
        return names;
    }

    [Test]
    public async Task Blobs_written_before_the_cutoff_go_except_under_a_kept_prefix()
    {
        var deleted = await _staging.DeleteOlderThanAsync(DateTimeOffset.UtcNow.AddMinutes(5), ["live-run/"], CancellationToken.None);

        Assert.That(deleted, Is.EqualTo(3));
        Assert.That(await NamesAsync(), Is.EqualTo(new[] { "live-run/s00000-c000000.part" }), "a kept prefix ends with '/', so live-run-attempt2 is not kept");
    }

    [Test]
    public async Task Blobs_written_after_the_cutoff_stay()
    {
        var deleted = await _staging.DeleteOlderThanAsync(DateTimeOffset.UtcNow.AddHours(-1), [], CancellationToken.None);

        Assert.That(deleted, Is.Zero);
        Assert.That(await NamesAsync(), Has.Count.EqualTo(4));
    }

    [Test]
    public async Task A_missing_container_has_nothing_to_sweep()
    {
        var missing = new BlobStagingStore(new BlobServiceClient(AzuriteSetUp.Endpoints.ConnectionString).GetBlobContainerClient("never-created"));
        Assert.That(await missing.DeleteOlderThanAsync(DateTimeOffset.UtcNow, [], CancellationToken.None), Is.Zero);
    }
}
