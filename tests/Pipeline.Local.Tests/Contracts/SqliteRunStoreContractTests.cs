using Pipeline.Engine.Ports;
using Pipeline.TestKit.Contracts;

namespace Pipeline.Local.Tests.Contracts;

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
