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

    [TestCase("ab://x", true)]
    [TestCase("a://x", false)]
    [TestCase("://x", false)]
    [TestCase("git+ssh://host/r", true)]
    [TestCase("x-y.z://host", true)]
    [TestCase("3s://bucket", false)]
    [TestCase("+s://bucket", false)]
    [TestCase("a_b://x", false)]
    [TestCase("ab:/x", false)]
    public void A_scheme_is_two_or_more_characters_starting_with_a_letter(string location, bool url) =>
        Assert.That(SourceLocation.IsUrl(location), Is.EqualTo(url));

    [TestCase("https://user@host", "https://host")]
    [TestCase("https://host/a@b.csv", "https://host/a@b.csv")]
    [TestCase("https://u@host/a@b.csv?x=1", "https://host/a@b.csv")]
    [TestCase("https://host/p.csv#frag?x", "https://host/p.csv")]
    public void Only_user_info_before_the_path_is_hidden(string location, string shown) =>
        Assert.That(SourceLocation.Display(location), Is.EqualTo(shown));

    [TestCase("https://acme.blob.core.windows.net/c/folder/", "folder")]
    [TestCase("https://acme.blob.core.windows.net/c/p.csv?sig=a/b", "p.csv")]
    public void The_name_of_a_folder_url_is_its_last_segment_without_the_query(string location, string name) =>
        Assert.That(SourceLocation.Name(location), Is.EqualTo(name));

    [TestCase("https://acme.blob.core.windows.net/c/p.csv", null)]
    [TestCase("http://127.0.0.1:10000/devstoreaccount1/c/p.csv", null)]
    [TestCase("not a url", "\"not a url\" is not a valid URL.")]
    [TestCase("s3://bucket/p.csv", "\"s3://bucket/p.csv\" is a s3:// URL; a source is a local file or folder, or an Azure blob URL (https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH).")]
    [TestCase("https://acme.blob.core.windows.net/c/p.csv?sv=1&sig=secret", "https://acme.blob.core.windows.net/c/p.csv: a source URL must not carry a query, SAS token or user info. Remove it, and grant the identity that runs the pipeline the Storage Blob Data Reader role on the container.")]
    [TestCase("https://me:pw@acme.blob.core.windows.net/c/p.csv", "https://acme.blob.core.windows.net/c/p.csv: a source URL must not carry a query, SAS token or user info. Remove it, and grant the identity that runs the pipeline the Storage Blob Data Reader role on the container.")]
    [TestCase("https://acme.blob.core.windows.net/c/p.csv#part", "https://acme.blob.core.windows.net/c/p.csv: a source URL must not carry a #fragment.")]
    public void A_source_url_is_https_or_http_without_query_user_info_or_fragment(string url, string? problem) =>
        Assert.That(SourceLocation.UrlProblem(url), Is.EqualTo(problem));
}
