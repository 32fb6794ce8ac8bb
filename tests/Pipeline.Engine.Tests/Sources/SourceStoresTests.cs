using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class SourceStoresTests
{
    [Test]
    public void At_least_one_store_is_needed()
    {
        Assert.That(() => new SourceStores(), Throws.ArgumentException.With.Message.StartsWith("At least one source store is needed."));
    }

    [Test]
    public async Task Each_call_goes_to_the_first_store_that_accepts_the_location()
    {
        var blobs = new NamedStore("blob", l => l.StartsWith("mem://", StringComparison.Ordinal));
        var other = new NamedStore("other", _ => true);
        var stores = new SourceStores(blobs, other);

        var listed = await stores.ListAsync("mem://c/a.csv", CancellationToken.None);
        await using var stream = await stores.OpenReadAsync("mem://c/a.csv", null, CancellationToken.None);
        var read = await stores.ReadAsync("mem://c/a.csv", null, 0, new byte[3], CancellationToken.None);
        var elsewhere = await stores.ListAsync("/data/a.csv", CancellationToken.None);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(listed.Single().Location, Is.EqualTo("blob:mem://c/a.csv"));
            Assert.That(stream.Length, Is.EqualTo(4));
            Assert.That(read, Is.EqualTo(3));
            Assert.That(blobs.Calls, Is.EqualTo(new[] { "list", "open", "read" }));
            Assert.That(elsewhere.Single().Location, Is.EqualTo("other:/data/a.csv"));
            Assert.That(other.Calls, Is.EqualTo(new[] { "list" }));
            Assert.That(stores.Accepts("mem://x"), Is.True);
        }
    }

    [Test]
    public async Task A_location_no_store_accepts_is_named()
    {
        var stores = new SourceStores(new NamedStore("blob", l => l.StartsWith("mem://", StringComparison.Ordinal)));

        Assert.That(stores.Accepts("/data/a.csv"), Is.False);
        var e = (await Assert.ThrowsAsync<SourceException>(() => stores.ListAsync("/data/a.csv", CancellationToken.None)))!;
        Assert.That(e.Message, Is.EqualTo("The audience snapshot /data/a.csv cannot be read here: no source store accepts it."));
        var url = (await Assert.ThrowsAsync<SourceException>(() => stores.OpenReadAsync("https://a.blob.core.windows.net/c/p.csv?sig=x", null, CancellationToken.None)))!;
        Assert.That(url.Message, Does.StartWith("The audience snapshot https://a.blob.core.windows.net/c/p.csv is a URL, and this host reads local files only."));
    }

    private sealed class NamedStore(string name, Func<string, bool> accepts) : ISourceStore
    {
        public List<string> Calls { get; } = [];

        public bool Accepts(string location) => accepts(location);

        public Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken)
        {
            Calls.Add("list");
            return Task.FromResult<IReadOnlyList<SourceEntry>>([new SourceEntry($"{name}:{location}", 4)]);
        }

        public Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken)
        {
            Calls.Add("open");
            return Task.FromResult<Stream>(new MemoryStream(new byte[4]));
        }

        public ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            Calls.Add("read");
            return ValueTask.FromResult(buffer.Length);
        }
    }
}
