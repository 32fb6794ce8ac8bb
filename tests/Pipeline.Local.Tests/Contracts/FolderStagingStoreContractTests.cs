using Pipeline.Engine.Ports;
using Pipeline.TestKit.Contracts;

namespace Pipeline.Local.Tests.Contracts;

public sealed class FolderStagingStoreContractTests : StagingStoreContract
{
    private string? _folder;

    protected override Task<IStagingStore> CreateStoreAsync(CancellationToken cancellationToken)
    {
        _folder = Path.Combine(Path.GetTempPath(), "pipeline-tests", "staging-" + Guid.NewGuid().ToString("N"));
        return Task.FromResult<IStagingStore>(new FolderStagingStore(_folder));
    }

    [TearDown]
    public void DeleteFolder()
    {
        if (_folder is not null && Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
