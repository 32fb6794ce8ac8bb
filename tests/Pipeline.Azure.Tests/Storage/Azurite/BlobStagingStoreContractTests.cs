using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Ports;
using Pipeline.TestKit.Contracts;

namespace Pipeline.Azure.Tests.Storage.Azurite;

[Category("Integration")]
public sealed class BlobStagingStoreContractTests : StagingStoreContract
{
    private BlobContainerClient? _container;

    protected override Task<IStagingStore> CreateStoreAsync(CancellationToken cancellationToken)
    {
        // A container per test keeps tests apart on the one Azurite.
        var service = new BlobServiceClient(AzuriteSetUp.Endpoints.ConnectionString);
        _container = service.GetBlobContainerClient(BlobStagingStore.ContainerName + "-" + Guid.NewGuid().ToString("N")[..12]);
        return Task.FromResult<IStagingStore>(new BlobStagingStore(_container));
    }

    [TearDown]
    public async Task DeleteContainer()
    {
        if (_container is not null) await _container.DeleteIfExistsAsync();
    }

    [Test]
    public async Task A_chunk_is_one_committed_block_blob_in_the_container()
    {
        await Store.WriteAsync("run-b/s00001-c000001.part", Bytes(1000, 9), CancellationToken.None);

        var properties = (await _container!.GetBlobClient("run-b/s00001-c000001.part").GetPropertiesAsync()).Value;
        Assert.That(properties.BlobType, Is.EqualTo(global::Azure.Storage.Blobs.Models.BlobType.Block));
        Assert.That(properties.ContentLength, Is.EqualTo(1000));
    }

    [Test]
    public async Task A_large_chunk_is_sent_in_blocks_of_at_most_8_MiB_committed_together()
    {
        // Each block is a request of its own, so each fits the network timeout of one try on a slow uplink.
        await Store.WriteAsync("run-b/big.part", Bytes(17 * 1024 * 1024 + 5, 10), CancellationToken.None);

        var blocks = (await _container!.GetBlockBlobClient("run-b/big.part").GetBlockListAsync()).Value;
        Assert.That(blocks.CommittedBlocks.Select(b => b.SizeLong), Is.EqualTo(new[] { 8L * 1024 * 1024, 8L * 1024 * 1024, 1024 * 1024 + 5 }));
        Assert.That(blocks.UncommittedBlocks, Is.Empty);
    }
}
