using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;
using Pipeline.TestKit.Contracts;

namespace Pipeline.Local.Tests.Contracts;

public sealed class FileSourceStoreContractTests : SourceStoreContract
{
    private string? _folder;

    protected override string Folder => _folder ?? throw new InvalidOperationException("The folder was not created (setup failed).");

    protected override Task<ISourceStore> CreateStoreAsync(CancellationToken cancellationToken)
    {
        _folder = Path.Combine(Path.GetTempPath(), "pipeline-tests", "sources-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
        return Task.FromResult<ISourceStore>(FileSourceStore.Instance);
    }

    protected override async Task WriteAsync(string name, byte[] content, CancellationToken cancellationToken)
    {
        var path = LocationOf(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, content, cancellationToken);
    }

    protected override string LocationOf(string name) => Path.Combine(Folder, name);

    [TearDown]
    public void DeleteFolder()
    {
        if (_folder is not null && Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task A_url_is_not_a_local_path_and_reading_one_says_so()
    {
        const string url = "https://account.blob.core.windows.net/snapshots/profiles.csv";

        var e = await Assert.ThrowsAsync<SourceException>(() => FileSourceStore.Instance.ListAsync(url, CancellationToken.None));

        Assert.That(FileSourceStore.Instance.Accepts(url), Is.False);
        Assert.That(e!.Message, Does.Contain(url).And.Contain("local files only"));
    }
}
