using Pipeline.Engine.Configuration;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class SourceCatalogTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pipeline-source-catalog-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        if (_dir is not null && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Test]
    [Platform(Exclude = "Win")]
    public void A_symlinked_snapshot_has_the_size_of_its_target()
    {
        var target = Path.Combine(_dir, "profiles.csv");
        File.WriteAllText(target, "profileId,segments\n" + string.Concat(Enumerable.Range(0, 1000).Select(i => $"p{i},S1\n")));
        var link = Path.Combine(_dir, "link.csv");
        File.CreateSymbolicLink(link, target);

        var file = SourceCatalog.ListFiles(new SourceSpec { Path = link }).Single();

        Assert.That(file.Length, Is.EqualTo(new FileInfo(target).Length));
    }
}
