using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Pipeline.Azure.State;
using Pipeline.Engine.Ports;
using Pipeline.Local;

namespace Pipeline.Azure.Tests.State;

public sealed class SqliteRunStoreContractTests : RunStoreContract
{
    private readonly List<string> _folders = [];

    protected override async Task<IRunStore> CreateStoreAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "pipeline-runstore-" + Guid.NewGuid().ToString("N"));
        _folders.Add(folder);
        return await SqliteRunStore.OpenAsync(Path.Combine(folder, "state.db"), CancellationToken.None);
    }

    [OneTimeTearDown]
    public void DeleteFolders()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var f in _folders.Where(Directory.Exists)) Directory.Delete(f, recursive: true);
    }
}

[Category("Integration")]
public sealed class TableRunStoreContractTests : RunStoreContract
{
    private TemporaryAzurite? _azurite;

    [OneTimeSetUp]
    public async Task StartAzurite() => _azurite = await TemporaryAzurite.StartAsync();

    [OneTimeTearDown]
    public async Task StopAzurite()
    {
        if (_azurite is not null) await _azurite.DisposeAsync();
    }

    protected override async Task<IRunStore> CreateStoreAsync()
    {
        // A fresh account per test would need a fresh Azurite; fresh tables are enough: each test uses its own names.
        var azurite = _azurite ?? throw new InvalidOperationException("Azurite did not start.");
        foreach (var t in new[] { TableRunStore.RunsTable, TableRunStore.ActivationsTable, TableRunStore.UnfinishedTable })
            await azurite.Tables.DeleteTableAsync(t);
        await azurite.Blobs.GetBlobContainerClient(TableRunStore.DocumentsContainer).DeleteIfExistsAsync();
        var store = new TableRunStore(azurite.Tables, azurite.Blobs);
        await store.EnsureCreatedAsync(CancellationToken.None);
        return store;
    }
}

/// <summary>Azurite on free loopback ports for this fixture (to be replaced by the test kit's launcher).</summary>
internal sealed class TemporaryAzurite : IAsyncDisposable
{
    private readonly Process _process;

    private TemporaryAzurite(Process process, string connectionString)
    {
        _process = process;
        Tables = new TableServiceClient(connectionString);
        Blobs = new BlobServiceClient(connectionString);
    }

    public TableServiceClient Tables { get; }
    public BlobServiceClient Blobs { get; }

    public static async Task<TemporaryAzurite> StartAsync()
    {
        var bin = Environment.GetEnvironmentVariable("AZURITE_BIN") ?? "azurite";
        int blob = FreePort(), queue = FreePort(), table = FreePort();
        var start = new ProcessStartInfo(bin) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--silent", "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
                     "--blobPort", blob.ToString(), "--queuePort", queue.ToString(), "--tablePort", table.ToString() })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var cs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
                 $"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;";
        var azurite = new TemporaryAzurite(process, cs);
        for (var i = 0; ; i++)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, table);
                using var b = new TcpClient();
                await b.ConnectAsync(IPAddress.Loopback, blob);
                return azurite;
            }
            catch (SocketException) when (i < 1200 && !process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
