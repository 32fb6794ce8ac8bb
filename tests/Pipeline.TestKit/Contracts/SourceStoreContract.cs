using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.TestKit.Contracts;

/// <summary>
/// What every <see cref="ISourceStore"/> promises (local files, blobs): a folder lists its snapshot files one level
/// deep, filtered and in ordinal order, with their lengths; a file lists as itself; a sequential read returns the
/// file's bytes; a ranged read fills its buffer except at the end of the file; and a location that is not there is a
/// <see cref="SourceException"/> that says so and names it.
/// </summary>
public abstract class SourceStoreContract
{
    private ISourceStore? _store;

    protected ISourceStore Store => _store ?? throw new InvalidOperationException("The store was not created (setup failed).");

    /// <summary>The store, with an empty folder (a directory, a blob prefix) private to the current test.</summary>
    protected abstract Task<ISourceStore> CreateStoreAsync(CancellationToken cancellationToken);

    /// <summary>The folder's location, as a source's path names it.</summary>
    protected abstract string Folder { get; }

    /// <summary>Writes <paramref name="name"/> (a '/' makes a subfolder) under the folder.</summary>
    protected abstract Task WriteAsync(string name, byte[] content, CancellationToken cancellationToken);

    /// <summary>Where <paramref name="name"/> under the folder is, spelled as the store lists it.</summary>
    protected abstract string LocationOf(string name);

    [SetUp]
    public async Task CreateStore() => _store = await CreateStoreAsync(CancellationToken.None);

    protected static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static (string Location, long Length)[] Unversioned(IEnumerable<SourceEntry> entries) => entries.Select(e => (e.Location, e.Length)).ToArray();

    private async Task<Dictionary<string, byte[]>> WriteSnapshotAsync()
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["b.csv"] = Bytes(1_000, 1),
            ["a.csv.gz"] = Bytes(2_345, 2),
            ["B.parquet"] = Bytes(10, 3),
            ["c.txt"] = Bytes(77, 4),
            ["d.tsv"] = Bytes(0, 5),
            ["e.CSV"] = Bytes(5, 6),
            // Not part of the snapshot: hidden, internal (Spark's markers), other formats, a subfolder.
            [".hidden.csv"] = Bytes(5, 7),
            ["_SUCCESS"] = [],
            ["_part.csv"] = Bytes(5, 8),
            ["notes.json"] = Bytes(5, 9),
            ["profiles.csv.bak"] = Bytes(5, 10),
            ["sub/f.csv"] = Bytes(5, 11),
        };
        foreach (var (name, content) in files) await WriteAsync(name, content, CancellationToken.None);
        return files;
    }

    [Test]
    public async Task A_folder_lists_its_snapshot_files_in_ordinal_order_with_their_lengths()
    {
        var files = await WriteSnapshotAsync();

        var listed = await Store.ListAsync(Folder, CancellationToken.None);

        string[] expected = ["B.parquet", "a.csv.gz", "b.csv", "c.txt", "d.tsv", "e.CSV"];
        Assert.That(listed.Select(e => e.Location), Is.EqualTo(expected.Select(LocationOf)));
        Assert.That(listed.Select(e => e.Length), Is.EqualTo(expected.Select(n => (long)files[n].Length)));
    }

    [Test]
    public async Task A_folder_named_with_a_trailing_slash_lists_the_same_files()
    {
        await WriteSnapshotAsync();

        var plain = await Store.ListAsync(Folder, CancellationToken.None);
        var slashed = await Store.ListAsync(Folder + "/", CancellationToken.None);

        Assert.That(slashed, Is.EqualTo(plain));
    }

    [Test]
    public async Task A_file_lists_as_itself_whatever_its_name()
    {
        await WriteSnapshotAsync();

        var single = await Store.ListAsync(LocationOf("a.csv.gz"), CancellationToken.None);
        var unlisted = await Store.ListAsync(LocationOf("_part.csv"), CancellationToken.None);

        Assert.That(Unversioned(single), Is.EqualTo(new[] { (LocationOf("a.csv.gz"), 2_345L) }));
        Assert.That(Unversioned(unlisted), Is.EqualTo(new[] { (LocationOf("_part.csv"), 5L) }), "a file named explicitly is read, like a folder's");
    }

    [Test]
    public async Task A_file_in_a_subfolder_is_listed_when_its_subfolder_is_named()
    {
        await WriteSnapshotAsync();

        var listed = await Store.ListAsync(LocationOf("sub"), CancellationToken.None);

        Assert.That(Unversioned(listed), Is.EqualTo(new[] { (LocationOf("sub/f.csv"), 5L) }));
    }

    [Test]
    public async Task Its_own_locations_are_accepted()
    {
        await WriteSnapshotAsync();

        Assert.That(Store.Accepts(Folder), Is.True);
        Assert.That(Store.Accepts(LocationOf("b.csv")), Is.True);
    }

    [Test]
    public async Task A_sequential_read_returns_the_files_bytes()
    {
        var content = Bytes(3 * 1024 * 1024 + 17, 12);
        await WriteAsync("big.csv", content, CancellationToken.None);

        await using var stream = await Store.OpenReadAsync(LocationOf("big.csv"), null, CancellationToken.None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);

        Assert.That(copy.ToArray(), Is.EqualTo(content));
    }

    [TestCase(0, 100, 100, TestName = "A ranged read at the start fills the buffer")]
    [TestCase(123_456, 300_000, 300_000, TestName = "A ranged read in the middle fills the buffer")]
    [TestCase(999_990, 10, 10, TestName = "A ranged read of the last bytes fills the buffer")]
    [TestCase(999_990, 100, 10, TestName = "A ranged read over the end returns the bytes up to the end")]
    [TestCase(1_000_000, 10, 0, TestName = "A ranged read at the end returns nothing")]
    [TestCase(1_000_100, 10, 0, TestName = "A ranged read past the end returns nothing")]
    [TestCase(0, 1_000_000, 1_000_000, TestName = "A ranged read of the whole file fills the buffer")]
    public async Task A_ranged_read_returns_exactly_the_bytes_there(int offset, int length, int expected)
    {
        var content = Bytes(1_000_000, 13);
        await WriteAsync("range.parquet", content, CancellationToken.None);
        var buffer = new byte[length];

        var read = await Store.ReadAsync(LocationOf("range.parquet"), null, offset, buffer, CancellationToken.None);

        Assert.That(read, Is.EqualTo(expected));
        Assert.That(buffer.AsSpan(0, read).ToArray(), Is.EqualTo(content.AsSpan(Math.Min(offset, content.Length), expected).ToArray()));
    }

    [Test]
    public async Task An_empty_file_lists_with_length_zero_and_reads_as_nothing()
    {
        await WriteAsync("empty.csv", [], CancellationToken.None);

        var listed = await Store.ListAsync(LocationOf("empty.csv"), CancellationToken.None);
        var read = await Store.ReadAsync(LocationOf("empty.csv"), null, 0, new byte[10], CancellationToken.None);
        await using var stream = await Store.OpenReadAsync(LocationOf("empty.csv"), null, CancellationToken.None);

        Assert.That(listed.Single().Length, Is.Zero);
        Assert.That(read, Is.Zero);
        Assert.That(await stream.ReadAsync(new byte[10]), Is.Zero);
    }

    [Test]
    public async Task A_location_that_is_not_there_is_a_source_error_that_names_it()
    {
        await WriteSnapshotAsync();
        var missing = LocationOf("not-there");

        var e = await Assert.ThrowsAsync<SourceException>(() => Store.ListAsync(missing, CancellationToken.None));

        Assert.That(e!.IsNotFound, Is.True, e.Message);
        Assert.That(e.Message, Does.Contain(SourceLocation.Display(missing)).And.Contain("does not exist"));
    }

    [Test]
    public async Task Reading_a_file_that_is_not_there_is_a_source_error_that_says_so()
    {
        await WriteSnapshotAsync();
        var missing = LocationOf("gone.csv");

        var open = await Assert.ThrowsAsync<SourceException>(() => Store.OpenReadAsync(missing, null, CancellationToken.None));
        var range = await Assert.ThrowsAsync<SourceException>(async () => await Store.ReadAsync(missing, null, 0, new byte[10], CancellationToken.None));

        Assert.That(open!.IsNotFound, Is.True, open.Message);
        Assert.That(range!.IsNotFound, Is.True, range.Message);
        Assert.That(open.Message, Does.Contain(SourceLocation.Display(missing)));
    }

    [Test]
    public async Task A_folder_without_snapshot_files_is_a_source_error_that_says_what_it_holds_not()
    {
        await WriteAsync("readme.md", Bytes(10, 14), CancellationToken.None);
        await WriteAsync("_SUCCESS", [], CancellationToken.None);

        var e = await Assert.ThrowsAsync<SourceException>(() => Store.ListAsync(Folder, CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("holds no .csv, .csv.gz, .txt, .tsv or .parquet"));
        Assert.That(e.IsNotFound, Is.False);
    }

    [Test]
    public async Task Every_file_is_listed_with_a_version_that_stays_while_the_file_does()
    {
        await WriteSnapshotAsync();

        var first = await Store.ListAsync(Folder, CancellationToken.None);
        var again = await Store.ListAsync(Folder, CancellationToken.None);
        var single = await Store.ListAsync(LocationOf("b.csv"), CancellationToken.None);

        Assert.That(first.Select(e => e.Version), Has.All.Not.Null.And.All.Not.Empty);
        Assert.That(again, Is.EqualTo(first));
        Assert.That(single.Single().Version, Is.EqualTo(first.Single(e => e.Location == LocationOf("b.csv")).Version), "a file named alone has the version its folder lists");
    }

    [Test]
    public async Task A_file_rewritten_after_it_was_listed_is_refused_at_the_listed_version_and_read_at_the_new_one()
    {
        await WriteAsync("snapshot.csv", Bytes(4_000, 20), CancellationToken.None);
        var listed = (await Store.ListAsync(LocationOf("snapshot.csv"), CancellationToken.None)).Single();
        var rewritten = Bytes(5_000, 21);
        await WriteAsync("snapshot.csv", rewritten, CancellationToken.None);

        var open = await Assert.ThrowsAsync<SourceException>(() => Store.OpenReadAsync(listed.Location, listed.Version, CancellationToken.None));
        var range = await Assert.ThrowsAsync<SourceException>(async () => await Store.ReadAsync(listed.Location, listed.Version, 0, new byte[10], CancellationToken.None));
        var now = (await Store.ListAsync(LocationOf("snapshot.csv"), CancellationToken.None)).Single();
        var buffer = new byte[rewritten.Length];
        var read = await Store.ReadAsync(now.Location, now.Version, 0, buffer, CancellationToken.None);
        await using var stream = await Store.OpenReadAsync(now.Location, now.Version, CancellationToken.None);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(open!.IsChanged, Is.True, open.Message);
            Assert.That(range!.IsChanged, Is.True, range.Message);
            Assert.That(open.Message, Does.StartWith($"The source file {SourceLocation.Display(listed.Location)} changed while the export read it"));
            Assert.That(now.Version, Is.Not.EqualTo(listed.Version));
            Assert.That(buffer.AsSpan(0, read).ToArray(), Is.EqualTo(rewritten));
            Assert.That(copy.ToArray(), Is.EqualTo(rewritten));
        }
    }

    [Test]
    public async Task Without_a_version_a_read_takes_the_file_as_it_is()
    {
        await WriteAsync("snapshot.csv", Bytes(100, 22), CancellationToken.None);
        var listed = (await Store.ListAsync(LocationOf("snapshot.csv"), CancellationToken.None)).Single();
        var rewritten = Bytes(120, 23);
        await WriteAsync("snapshot.csv", rewritten, CancellationToken.None);

        var buffer = new byte[200];
        var read = await Store.ReadAsync(listed.Location, null, 0, buffer, CancellationToken.None);

        Assert.That(buffer.AsSpan(0, read).ToArray(), Is.EqualTo(rewritten));
    }
}
