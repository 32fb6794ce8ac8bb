using System.Security.Cryptography;
using Pipeline.Engine.Ports;

namespace Pipeline.TestKit.Contracts;

/// <summary>
/// What every <see cref="IStagingStore"/> promises (the folder store locally, the blob container in Azure): writes are
/// all-or-nothing, a ranged read returns exactly the bytes asked for, a missing key has no length, and deleting a
/// run's prefix removes that run's objects and nothing else.
/// </summary>
public abstract class StagingStoreContract
{
    private IStagingStore? _store;

    protected IStagingStore Store => _store ?? throw new InvalidOperationException("The store was not created (setup failed).");

    /// <summary>A store with nothing in it, private to the current test.</summary>
    protected abstract Task<IStagingStore> CreateStoreAsync(CancellationToken cancellationToken);

    [SetUp]
    public async Task CreateStore() => _store = await CreateStoreAsync(CancellationToken.None);

    protected static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    protected static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            return copy.ToArray();
        }
    }

    [Test]
    public async Task A_written_object_reads_back_whole_and_has_its_length()
    {
        var content = Bytes(100_000, 1);
        await Store.WriteAsync("run-a/s00001-c000001.part", content, CancellationToken.None);

        Assert.That(await Store.GetLengthAsync("run-a/s00001-c000001.part", CancellationToken.None), Is.EqualTo(100_000));
        var read = await ReadAllAsync(await Store.OpenReadAsync("run-a/s00001-c000001.part", 0, content.Length, CancellationToken.None));
        Assert.That(read, Is.EqualTo(content));
    }

    [Test]
    public async Task An_object_larger_than_one_upload_request_reads_back_whole()
    {
        // Over 8 MiB: a blob container writes it in several blocks, committed together.
        var content = Bytes(17 * 1024 * 1024 + 5, 9);
        await Store.WriteAsync("run-a/big.part", content, CancellationToken.None);

        Assert.That(await Store.GetLengthAsync("run-a/big.part", CancellationToken.None), Is.EqualTo(content.Length));
        var read = await ReadAllAsync(await Store.OpenReadAsync("run-a/big.part", 0, content.Length, CancellationToken.None));
        Assert.That(read, Is.EqualTo(content));
    }

    [TestCase(0, 10)]
    [TestCase(4_096, 1)]
    [TestCase(12_345, 50_000)]
    [TestCase(99_990, 10)]
    public async Task A_ranged_read_returns_exactly_the_range_and_then_ends(int offset, int length)
    {
        var content = Bytes(100_000, 2);
        await Store.WriteAsync("run-a/chunk.part", content, CancellationToken.None);

        var read = await ReadAllAsync(await Store.OpenReadAsync("run-a/chunk.part", offset, length, CancellationToken.None));

        Assert.That(read, Is.EqualTo(content.AsSpan(offset, length).ToArray()));
    }

    [Test]
    public async Task An_empty_object_exists_with_length_zero()
    {
        await Store.WriteAsync("run-a/header.part", ReadOnlyMemory<byte>.Empty, CancellationToken.None);

        Assert.That(await Store.GetLengthAsync("run-a/header.part", CancellationToken.None), Is.EqualTo(0));
    }

    [Test]
    public async Task An_overwrite_replaces_the_whole_object()
    {
        await Store.WriteAsync("run-a/chunk.part", Bytes(50_000, 3), CancellationToken.None);
        var shorter = Bytes(700, 4);
        await Store.WriteAsync("run-a/chunk.part", shorter, CancellationToken.None);

        Assert.That(await Store.GetLengthAsync("run-a/chunk.part", CancellationToken.None), Is.EqualTo(700));
        Assert.That(await ReadAllAsync(await Store.OpenReadAsync("run-a/chunk.part", 0, 700, CancellationToken.None)), Is.EqualTo(shorter));
    }

    [Test]
    public async Task A_missing_key_has_no_length_and_opening_it_throws_file_not_found()
    {
        Assert.That(await Store.GetLengthAsync("run-a/never-written.part", CancellationToken.None), Is.Null);
        await Assert.ThrowsAsync<FileNotFoundException>(() => Store.OpenReadAsync("run-a/never-written.part", 0, 10, CancellationToken.None));
    }

    [Test]
    public async Task Deleting_a_run_prefix_removes_that_run_and_keeps_runs_whose_id_starts_the_same()
    {
        foreach (var key in new[] { "run1/s00001-c000001.part", "run1/header.part", "run10/s00001-c000001.part", "run2/header.part" })
            await Store.WriteAsync(key, Bytes(10, key.Length), CancellationToken.None);

        await Store.DeletePrefixAsync("run1/", CancellationToken.None);

        Assert.That(await Store.GetLengthAsync("run1/s00001-c000001.part", CancellationToken.None), Is.Null);
        Assert.That(await Store.GetLengthAsync("run1/header.part", CancellationToken.None), Is.Null);
        Assert.That(await Store.GetLengthAsync("run10/s00001-c000001.part", CancellationToken.None), Is.EqualTo(10));
        Assert.That(await Store.GetLengthAsync("run2/header.part", CancellationToken.None), Is.EqualTo(10));
    }

    [Test]
    public async Task Deleting_a_prefix_nothing_was_written_under_succeeds()
    {
        await Store.DeletePrefixAsync("no-such-run/", CancellationToken.None);
        Assert.That(await Store.GetLengthAsync("no-such-run/header.part", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task A_reader_during_an_overwrite_sees_the_old_or_the_new_object_whole()
    {
        const int size = 2 << 20;
        var first = Enumerable.Repeat((byte)'a', size).ToArray();
        var second = Enumerable.Repeat((byte)'b', size).ToArray();
        await Store.WriteAsync("run-a/chunk.part", first, CancellationToken.None);

        var overwrite = Store.WriteAsync("run-a/chunk.part", second, CancellationToken.None);
        var seen = new List<byte[]>();
        do
        {
            seen.Add(await ReadAllAsync(await Store.OpenReadAsync("run-a/chunk.part", 0, size, CancellationToken.None)));
        }
        while (!overwrite.IsCompleted);
        await overwrite;
        seen.Add(await ReadAllAsync(await Store.OpenReadAsync("run-a/chunk.part", 0, size, CancellationToken.None)));

        Assert.That(seen, Has.All.Matches<byte[]>(r => r.AsSpan().SequenceEqual(first) || r.AsSpan().SequenceEqual(second)));
        Assert.That(seen[^1], Is.EqualTo(second));
    }

    [Test]
    public async Task A_chunk_sized_object_reads_back_in_parts_that_concatenate_to_it()
    {
        var content = Bytes(8 << 20, 5);
        await Store.WriteAsync("run-a/big.part", content, CancellationToken.None);

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        const int part = 3 << 20;
        for (long offset = 0; offset < content.Length; offset += part)
        {
            var length = (int)Math.Min(part, content.Length - offset);
            var read = await ReadAllAsync(await Store.OpenReadAsync("run-a/big.part", offset, length, CancellationToken.None));
            Assert.That(read, Has.Length.EqualTo(length));
            sha.AppendData(read);
        }

        Assert.That(sha.GetHashAndReset(), Is.EqualTo(SHA256.HashData(content)));
    }
}
