using Parquet;
using Parquet.Schema;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class SourceReadersTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "source-readers-tests-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task The_columns_of_a_csv_file_are_read_with_the_sources_delimiter()
    {
        var path = Path.Combine(_dir, "p.tsv");
        await File.WriteAllTextAsync(path, "profileId\temail,x\tsegments\np1\ta\tS1\n");

        var columns = await SourceReaders.ReadColumnsAsync(SourceCatalog.Describe(path, SourceFormat.Auto), new SourceSpec { Path = path, Delimiter = '\t' }, CancellationToken.None);

        Assert.That(columns, Is.EqualTo(new[] { "profileId", "email,x", "segments" }));
    }

    [Test]
    public async Task The_columns_of_a_parquet_file_are_read_from_its_footer()
    {
        var path = Path.Combine(_dir, "p.parquet");
        var id = new DataField<string>("profileId");
        var segments = new DataField<string>("segments");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, segments), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(id, new[] { "p1" });
            await group.WriteAsync(segments, new[] { "S1" });
        }

        var columns = await SourceReaders.ReadColumnsAsync(SourceCatalog.Describe(path, SourceFormat.Auto), new SourceSpec { Path = path }, CancellationToken.None);

        Assert.That(columns, Is.EqualTo(new[] { "profileId", "segments" }));
    }
}
