using System.Text;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

/// <summary>SourceFile.cs: the file record, its exceptions, duplicate columns, the catalog's naming rules and source text.</summary>
public class SourceFileTests
{
    [TestCase("profiles.csv", SourceFormat.Csv, false)]
    [TestCase("profiles.CSV.GZ", SourceFormat.Csv, true)]
    [TestCase("profiles.txt", SourceFormat.Csv, false)]
    [TestCase("profiles.tsv.gz", SourceFormat.Csv, true)]
    [TestCase("profiles.Parquet", SourceFormat.Parquet, false)]
    public void The_format_and_compression_come_from_the_name(string name, SourceFormat format, bool gzip)
    {
        var file = SourceCatalog.Describe(new Ports.SourceEntry("/data/" + name, 10), SourceFormat.Auto);

        Assert.That(file, Is.EqualTo(new SourceFile("/data/" + name, 10, format, gzip)));
    }

    [Test]
    public void A_declared_format_wins_over_the_name_and_a_name_without_one_needs_it()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(SourceCatalog.Describe(new Ports.SourceEntry("/data/export.dat", 1), SourceFormat.Parquet).Format, Is.EqualTo(SourceFormat.Parquet));
            Assert.That(SourceCatalog.Describe(new Ports.SourceEntry("/data/p.csv", 1), SourceFormat.Parquet).Format, Is.EqualTo(SourceFormat.Parquet));
            Assert.That(() => SourceCatalog.Describe(new Ports.SourceEntry("https://a.blob.core.windows.net/c/export.dat?sig=x", 1), SourceFormat.Auto),
                Throws.InstanceOf<SourceException>().With.Message.EqualTo(
                    "Cannot tell the format of https://a.blob.core.windows.net/c/export.dat from its name; set \"format\": \"csv\" or \"parquet\" on the source."));
        }
    }

    [TestCase("a.csv", true)]
    [TestCase("a.csv.gz", true)]
    [TestCase("a.parquet", true)]
    [TestCase(".a.csv", false)]
    [TestCase("_SUCCESS", false)]
    [TestCase("_a.csv", false)]
    [TestCase("a.json", false)]
    [TestCase("a.gz", false)]
    [TestCase("", false)]
    public void Snapshot_files_have_a_known_extension_and_are_not_hidden_or_internal(string name, bool snapshot) =>
        Assert.That(SourceCatalog.IsSnapshotFile(name), Is.EqualTo(snapshot));

    [Test]
    public void The_local_catalog_lists_a_folder_described()
    {
        var dir = Path.Combine(Path.GetTempPath(), "source-file-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "b.csv.gz"), "xx");
            File.WriteAllText(Path.Combine(dir, "a.parquet"), "x");

            var files = SourceCatalog.ListFiles(new SourceSpec { Path = dir });

            Assert.That(files, Is.EqualTo(new[]
            {
                new SourceFile(Path.Combine(dir, "a.parquet"), 1, SourceFormat.Parquet, false, FileSourceStore.Entry(Path.Combine(dir, "a.parquet")).Version),
                new SourceFile(Path.Combine(dir, "b.csv.gz"), 2, SourceFormat.Csv, true, FileSourceStore.Entry(Path.Combine(dir, "b.csv.gz")).Version),
            }));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void Two_columns_of_one_name_are_named_by_position()
    {
        Assert.That(() => SourceColumns.RejectDuplicates("f.csv", ["id", "email", "segments", "Email", "email"]),
            Throws.InstanceOf<SourceException>().With.Message.EqualTo("f.csv: columns 2 and 5 are both named \"email\"; every column needs its own name. Rename one in the source."));
        Assert.That(() => SourceColumns.RejectDuplicates("f.csv", ["id", "email", "Email"]), Throws.Nothing, "names are compared exactly");
    }

    [Test]
    public void A_malformed_row_names_file_line_and_reason()
    {
        var e = new MalformedRowException("f.csv", 12, "has 2 columns");

        Assert.That((e.Message, e.File, e.Line, e.Reason), Is.EqualTo(("f.csv, line 12: has 2 columns", "f.csv", 12L, "has 2 columns")));
    }

    [Test]
    public void A_source_problem_is_not_found_only_for_a_missing_file_or_folder()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(new SourceException("x", new FileNotFoundException()).IsNotFound, Is.True);
            Assert.That(new SourceException("x", new DirectoryNotFoundException()).IsNotFound, Is.True);
            Assert.That(new SourceException("x", new IOException()).IsNotFound, Is.False);
            Assert.That(new SourceException("x").IsNotFound, Is.False);
            Assert.That(new SourceUnavailableException("busy", new TimeoutException()), Is.InstanceOf<IOException>().And.Property("Message").EqualTo("busy"));
        }
    }

    [Test]
    public void Source_text_is_utf8_without_nul_and_a_problem_names_the_byte()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(SourceText.IsValid("Zoë 李"u8), Is.True);
            Assert.That(SourceText.IsValid("a\0b"u8), Is.False);
            Assert.That(SourceText.IsValid([0x61, 0xFC]), Is.False);
            Assert.That(SourceText.Problem("Zoë 李 😀"u8), Is.Null);
            Assert.That(SourceText.Problem("Zoë\0"u8), Is.EqualTo("byte 5 of the row is a NUL (0x00)"));
            Assert.That(SourceText.Problem([.. "Zoë"u8, 0xE9, 0x61], "value"), Is.EqualTo("byte 5 of the value (0xE9) is not valid UTF-8; the source must be UTF-8"));
        }
    }

    [Test]
    public void Decoded_text_with_a_nul_or_a_replacement_character_names_the_character()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(SourceText.Problem((string?)null), Is.Null);
            Assert.That(SourceText.Problem("Zoë"), Is.Null);
            Assert.That(SourceText.Problem("ab\0"), Is.EqualTo("character 3 is a NUL (U+0000)"));
            Assert.That(SourceText.Problem("M\uFFFDnchen"), Is.EqualTo("character 2 is U+FFFD, the mark of bytes that are not valid UTF-8"));
        }
    }
}
