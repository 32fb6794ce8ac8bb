using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class FileSourceStoreTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "file-source-store-tests-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Test]
    public void A_folder_lists_its_snapshot_files_in_ordinal_order_with_their_lengths()
    {
        Write("b.csv", "12345");
        Write("B.parquet", "1");
        Write("a.csv.gz", "123");
        Write("_SUCCESS", "");
        Write(".hidden.csv", "x");
        Write("notes.md", "x");

        var files = FileSourceStore.List(_dir);

        Assert.That(files.Select(f => (Path.GetFileName(f.Location), f.Length)), Is.EqualTo(new[] { ("B.parquet", 1L), ("a.csv.gz", 3L), ("b.csv", 5L) }));
        Assert.That(files.Select(f => f.Location), Is.All.StartsWith(Path.GetFullPath(_dir)));
    }

    [Test]
    public async Task A_file_lists_itself()
    {
        var path = Write("one.txt", "abc");

        var files = await FileSourceStore.Instance.ListAsync(path, CancellationToken.None);

        Assert.That((files.Single().Location, files.Single().Length), Is.EqualTo((path, 3L)));
    }

    [Test]
    public async Task A_file_rewritten_to_the_same_length_is_told_apart_by_its_last_write_time()
    {
        var path = Write("one.csv", "abc");
        File.SetLastWriteTimeUtc(path, new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc));
        var listed = (await FileSourceStore.Instance.ListAsync(path, CancellationToken.None)).Single();
        File.WriteAllText(path, "xyz");
        File.SetLastWriteTimeUtc(path, new DateTime(2026, 12, 1, 0, 0, 1, DateTimeKind.Utc));

        var e = await Assert.ThrowsAsync<SourceException>(async () => await FileSourceStore.Instance.ReadAsync(path, listed.Version, 0, new byte[3], CancellationToken.None));

        Assert.That(e!.IsChanged, Is.True, e.Message);
    }

    [Test]
    public async Task A_symlinked_file_is_read_at_the_version_of_its_target()
    {
        var target = Write("target.csv", "hello");
        var link = Path.Combine(_dir, "link.csv");
        File.CreateSymbolicLink(link, target);

        var listed = (await FileSourceStore.Instance.ListAsync(link, CancellationToken.None)).Single();
        await using var stream = await FileSourceStore.Instance.OpenReadAsync(link, listed.Version, CancellationToken.None);

        Assert.That(listed.Version, Is.EqualTo(FileSourceStore.Entry(target).Version));
        Assert.That(new StreamReader(stream).ReadToEnd(), Is.EqualTo("hello"));
    }

    [Test]
    public void A_missing_snapshot_is_not_found_and_says_how_to_make_one()
    {
        var missing = Path.Combine(_dir, "nope");

        var e = Assert.Throws<SourceException>(() => FileSourceStore.List(missing))!;

        Assert.That(e.Message, Is.EqualTo($"The audience snapshot {missing} does not exist. Check the source path, or create sample data with `pipeline sample`."));
        Assert.That(e.IsNotFound, Is.True);
    }

    [Test]
    public void A_folder_without_snapshot_files_says_which_names_count()
    {
        Write("readme.md", "x");

        var e = Assert.Throws<SourceException>(() => FileSourceStore.List(_dir))!;

        Assert.That(e.Message, Is.EqualTo($"The folder {_dir} holds no .csv, .csv.gz, .txt, .tsv or .parquet files."));
        Assert.That(e.IsNotFound, Is.False);
    }

    [Test]
    public void Only_paths_are_accepted_and_a_url_is_refused_by_name()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(FileSourceStore.Instance.Accepts("/data/a.csv"), Is.True);
            Assert.That(FileSourceStore.Instance.Accepts("https://a.blob.core.windows.net/c/a.csv"), Is.False);
            Assert.That(() => FileSourceStore.List("https://a.blob.core.windows.net/c/a.csv"), Throws.InstanceOf<SourceException>().With.Message.EqualTo(
                "The audience snapshot https://a.blob.core.windows.net/c/a.csv is a URL, and this host reads local files only. " +
                "Copy the snapshot to a local folder, or run the export with the Azure source store (the pipeline CLI reads blob URLs)."));
            Assert.That(() => FileSourceStore.Instance.OpenReadAsync("https://a/c", null, CancellationToken.None), Throws.InstanceOf<SourceException>());
            Assert.That(() => FileSourceStore.Instance.ReadAsync("https://a/c", null, 0, new byte[1], CancellationToken.None).AsTask(), Throws.InstanceOf<SourceException>());
        }
    }

    [Test]
    public async Task Opens_a_file_to_stream_it_and_names_one_that_cannot_be_opened()
    {
        var path = Write("a.csv", "hello");
        await using (var stream = await FileSourceStore.Instance.OpenReadAsync(path, null, CancellationToken.None))
        using (var reader = new StreamReader(stream))
            Assert.That(await reader.ReadToEndAsync(), Is.EqualTo("hello"));

        var missing = Path.Combine(_dir, "missing.csv");
        var e = (await Assert.ThrowsAsync<SourceException>(() => FileSourceStore.Instance.OpenReadAsync(missing, null, CancellationToken.None)))!;
        Assert.That(e.Message, Does.StartWith($"Cannot open {missing}: "));
        Assert.That(e.IsNotFound, Is.True);
    }

    [Test]
    public async Task Ranged_reads_return_the_bytes_at_the_offset_and_stop_at_the_end()
    {
        var path = Write("a.csv", "0123456789");
        var buffer = new byte[4];

        using (Assert.EnterMultipleScope())
        {
            Assert.That(await FileSourceStore.Instance.ReadAsync(path, null, 3, buffer, CancellationToken.None), Is.EqualTo(4));
            Assert.That(buffer, Is.EqualTo("3456"u8.ToArray()));
            Assert.That(await FileSourceStore.Instance.ReadAsync(path, null, 8, buffer, CancellationToken.None), Is.EqualTo(2));
            Assert.That(buffer[..2], Is.EqualTo("89"u8.ToArray()));
            Assert.That(await FileSourceStore.Instance.ReadAsync(path, null, 20, buffer, CancellationToken.None), Is.Zero);
            Assert.That(await FileSourceStore.Instance.ReadAsync(Path.Combine(_dir, "missing"), null, 0, Memory<byte>.Empty, CancellationToken.None), Is.Zero, "an empty read opens nothing");
            Assert.That(() => FileSourceStore.Instance.ReadAsync(path, null, -1, buffer, CancellationToken.None).AsTask(), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => FileSourceStore.Instance.ReadAsync(Path.Combine(_dir, "missing"), null, 0, buffer, CancellationToken.None).AsTask(),
                Throws.InstanceOf<SourceException>().With.Message.StartsWith($"Cannot open {Path.Combine(_dir, "missing")}: "));
        }
    }
}
