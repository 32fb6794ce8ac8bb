using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Pipeline.Azure.State;
using Pipeline.Engine.Ports;
using Pipeline.TestKit.Contracts;

namespace Pipeline.Azure.Tests.Storage.Azurite;

[Category("Integration")]
public sealed class TableRunStoreContractTests : RunStoreContract
{
    protected override async Task<IRunStore> CreateStoreAsync()
    {
        // One Azurite for the namespace: each test starts from empty tables and an empty document container.
        var tables = new TableServiceClient(AzuriteSetUp.Endpoints.ConnectionString);
        var blobs = new BlobServiceClient(AzuriteSetUp.Endpoints.ConnectionString);
        foreach (var table in new[] { TableRunStore.RunsTable, TableRunStore.ActivationsTable, TableRunStore.UnfinishedTable })
            await tables.DeleteTableAsync(table);
        await blobs.GetBlobContainerClient(TableRunStore.DocumentsContainer).DeleteIfExistsAsync();
        var store = new TableRunStore(tables, blobs);
        await store.EnsureCreatedAsync(CancellationToken.None);
        return store;
    }
}
