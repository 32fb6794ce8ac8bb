using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Sas;
using Pipeline.Azure.Sources;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;
using Pipeline.TestKit.Contracts;
using Pipeline.TestKit.Emulators;

namespace Pipeline.Azure.Tests.Storage.Azurite;

/// <summary>
/// The source contract on Azurite blobs, read with the development account's well-known key (no connection given), and
/// what only blobs have: a missing container, a connection's credential for its own account, refusals that name the fix.
/// </summary>
[Category("Integration")]
public sealed class BlobSourceStoreContractTests : SourceStoreContract
{
    private BlobContainerClient? _container;

    protected override string Folder => $"{AzuriteSetUp.Endpoints.BlobServiceUri}/{Container.Name}/snapshots/daily";

    private BlobContainerClient Container => _container ?? throw new InvalidOperationException("The container was not created (setup failed).");

    protected override async Task<ISourceStore> CreateStoreAsync(CancellationToken cancellationToken)
    {
        // A container per test keeps tests apart on the one Azurite.
        var service = new BlobServiceClient(AzuriteSetUp.Endpoints.ConnectionString);
        _container = service.GetBlobContainerClient("sources-" + Guid.NewGuid().ToString("N")[..12]);
        await _container.CreateAsync(cancellationToken: cancellationToken);
        return new BlobSourceStore();
    }

    protected override async Task WriteAsync(string name, byte[] content, CancellationToken cancellationToken) =>
        await Container.GetBlobClient("snapshots/daily/" + name).UploadAsync(BinaryData.FromBytes(content), overwrite: true, cancellationToken);

    protected override string LocationOf(string name) => Folder + "/" + name;

    [TearDown]
    public async Task DeleteContainer()
    {
        if (_container is not null) await _container.DeleteIfExistsAsync();
    }

    [Test]
    public async Task A_download_resumed_after_a_dropped_connection_into_a_replaced_blob_is_refused_as_changed()
    {
        await WriteAsync("big.csv", Bytes(32 * 1024 * 1024, 30), CancellationToken.None);
        var listed = (await Store.ListAsync(LocationOf("big.csv"), CancellationToken.None)).Single();
        await using var proxy = new OutageProxy([AzuriteSetUp.Endpoints.BlobPort]);
        var throughProxy = listed.Location.Replace($":{AzuriteSetUp.Endpoints.BlobPort}/", $":{proxy.Ports[0]}/", StringComparison.Ordinal);
        var buffer = new byte[64 * 1024];
        await using var stream = await Store.OpenReadAsync(throughProxy, listed.Version, CancellationToken.None);
        await stream.ReadExactlyAsync(buffer);

        // The connection drops; the blob is replaced before the SDK resumes the download (with If-Match on its ETag).
        proxy.GoDown();
        await WriteAsync("big.csv", Bytes(32 * 1024 * 1024, 31), CancellationToken.None);
        proxy.ComeBack();
        var e = await Assert.ThrowsAsync<SourceException>(async () =>
        {
            while (await stream.ReadAsync(buffer) > 0) { }
        });

        Assert.That(e!.IsChanged, Is.True, e.Message);
        Assert.That(e.Message, Does.StartWith($"The source file {throughProxy} changed while the export read it"));
    }

    [Test]
    public async Task A_container_that_does_not_exist_is_a_missing_source_naming_the_container()
    {
        var url = $"{AzuriteSetUp.Endpoints.BlobServiceUri}/no-such-container/profiles.csv";

        var e = await Assert.ThrowsAsync<SourceException>(() => Store.ListAsync(url, CancellationToken.None));

        await TestContext.Out.WriteLineAsync(e!.Message);
        Assert.That(e.IsNotFound, Is.True, e.Message);
        Assert.That(e.Message, Does.Contain(url).And.Contain("no container \"no-such-container\""));
    }

    [Test]
    public async Task The_whole_container_is_a_folder_too()
    {
        await Container.GetBlobClient("top.csv").UploadAsync(BinaryData.FromString("a\n"));
        await WriteAsync("nested.csv", [1, 2, 3], CancellationToken.None);

        var listed = await Store.ListAsync($"{AzuriteSetUp.Endpoints.BlobServiceUri}/{Container.Name}", CancellationToken.None);

        Assert.That(listed.Select(e => (e.Location, e.Length)), Is.EqualTo(new[] { ($"{AzuriteSetUp.Endpoints.BlobServiceUri}/{Container.Name}/top.csv", 2L) }));
    }

    [Test]
    public async Task A_blob_name_with_spaces_and_non_ascii_round_trips_through_its_listed_url()
    {
        var content = new byte[] { 10, 20, 30 };
        await WriteAsync("day 1/Zoë profiles.csv", content, CancellationToken.None);

        var entry = (await Store.ListAsync(LocationOf("day 1"), CancellationToken.None)).Single();
        var buffer = new byte[10];
        var read = await Store.ReadAsync(entry.Location, null, 0, buffer, CancellationToken.None);

        Assert.That(SourceLocation.Name(entry.Location), Is.EqualTo("Zoë profiles.csv"));
        Assert.That(buffer[..read], Is.EqualTo(content));
    }

    [Test]
    public async Task The_pipeline_storage_connection_reads_its_own_account_with_its_own_credential()
    {
        await WriteAsync("a.csv", [1, 2, 3], CancellationToken.None);
        // The account's name with a key Azurite does not know: only the connection's credential would be refused.
        var wrongKey = Convert.ToBase64String(new byte[64]);
        var connection = Connection($"DefaultEndpointsProtocol=http;AccountName={AzuriteEndpoints.AccountName};AccountKey={wrongKey};BlobEndpoint={AzuriteSetUp.Endpoints.BlobServiceUri};");
        var store = new BlobSourceStore(connection);

        var e = await Assert.ThrowsAsync<SourceException>(() => store.ListAsync(LocationOf("a.csv"), CancellationToken.None));

        await TestContext.Out.WriteLineAsync(e!.Message);
        Assert.That(e.Message, Does.Contain("PipelineStorage").And.Contain(LocationOf("a.csv")).And.Contain("403").And.Contain("the key is wrong"));
        Assert.That(e.Message, Does.Not.Contain(wrongKey));
        var good = new BlobSourceStore(Connection(AzuriteSetUp.Endpoints.ConnectionString));
        Assert.That((await good.ListAsync(LocationOf("a.csv"), CancellationToken.None)).Single().Length, Is.EqualTo(3));
    }

    [Test]
    public async Task A_sas_that_may_not_read_is_refused_naming_the_permissions_it_needs_and_not_the_token()
    {
        await WriteAsync("a.csv", [1, 2, 3], CancellationToken.None);
        // May list, not read: as close to an identity without Storage Blob Data Reader as Azurite (no RBAC) gets.
        var sas = new AccountSasBuilder(AccountSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1), AccountSasServices.Blobs, AccountSasResourceTypes.All)
            .ToSasQueryParameters(new StorageSharedKeyCredential(AzuriteEndpoints.AccountName, AzuriteEndpoints.AccountKey)).ToString();
        var store = new BlobSourceStore(Connection($"BlobEndpoint={AzuriteSetUp.Endpoints.BlobServiceUri};SharedAccessSignature={sas}"));

        var e = await Assert.ThrowsAsync<SourceException>(() => store.ListAsync(LocationOf("a.csv"), CancellationToken.None));

        await TestContext.Out.WriteLineAsync(e!.Message);
        Assert.That(e.Message, Does.Contain(LocationOf("a.csv")).And.Contain("403").And.Contain("read (r) and list (l)"));
        Assert.That(e.Message, Does.Not.Contain("sig=").And.Not.Contain(sas[..20]));
        Assert.That(e.IsNotFound, Is.False);
    }

    private static StorageConnection Connection(string connectionString) =>
        StorageConnection.FromSettings([new("PipelineStorage", connectionString)])!;
}
