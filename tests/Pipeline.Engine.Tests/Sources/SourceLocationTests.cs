using Pipeline.Engine.Configuration;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class SourceLocationTests
{
    [TestCase("https://acme.blob.core.windows.net/c/p.csv", true)]
    [TestCase("http://127.0.0.1:10000/devstoreaccount1/c", true)]
    [TestCase("s3://bucket/key", true)]
    [TestCase("/data/profiles.csv", false)]
    [TestCase("profiles.csv", false)]
    [TestCase(@"C:\data\profiles.csv", false)]
    [TestCase("data/a://b.csv", false)]
    public void A_url_is_told_from_a_path(string location, bool url) =>
        Assert.That(SourceLocation.IsUrl(location), Is.EqualTo(url));

    [TestCase("https://acme.blob.core.windows.net/c/p.csv?sv=2024&sig=abc%3D", "https://acme.blob.core.windows.net/c/p.csv")]
    [TestCase("https://user:secret@acme.blob.core.windows.net/c/p.csv#x", "https://acme.blob.core.windows.net/c/p.csv")]
    [TestCase("https://acme.blob.core.windows.net/c/p.csv", "https://acme.blob.core.windows.net/c/p.csv")]
    [TestCase("/data/a?b.csv", "/data/a?b.csv")]
    public void A_url_is_shown_without_query_fragment_or_user_info(string location, string shown) =>
        Assert.That(SourceLocation.Display(location), Is.EqualTo(shown));

    [TestCase("https://acme.blob.core.windows.net/c/day%201/p.csv.gz", "p.csv.gz")]
    [TestCase("https://acme.blob.core.windows.net/c/a%20b.csv", "a b.csv")]
    [TestCase("/data/profiles.parquet", "profiles.parquet")]
    public void The_name_is_the_last_segment(string location, string name) =>
        Assert.That(SourceLocation.Name(location), Is.EqualTo(name));

    [Test]
    public void A_url_source_is_described_by_its_name_with_the_length_its_store_listed()
    {
        var file = SourceCatalog.Describe(new Ports.SourceEntry("https://acme.blob.core.windows.net/c/profiles.csv.gz", 1234), SourceFormat.Auto);

        Assert.That(file, Is.EqualTo(new SourceFile("https://acme.blob.core.windows.net/c/profiles.csv.gz", 1234, SourceFormat.Csv, Gzip: true)));
    }

    [Test]
    public async Task A_host_with_local_files_only_says_so_for_a_url_instead_of_calling_it_missing()
    {
        var stores = new SourceStores(FileSourceStore.Instance);

        var e = await Assert.ThrowsAsync<SourceException>(() =>
            SourceCatalog.ListFilesAsync(stores, new SourceSpec { Path = "https://acme.blob.core.windows.net/c/p.csv" }, CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("https://acme.blob.core.windows.net/c/p.csv").And.Contain("local files only"));
    }
}
