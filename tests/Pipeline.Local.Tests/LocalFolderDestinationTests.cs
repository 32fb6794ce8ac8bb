using Pipeline.Engine.Ports;

namespace Pipeline.Local.Tests;

public class LocalFolderDestinationTests
{
    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    private static readonly ObjectProperties Csv = new("text/csv", "gzip");

    [Test]
    public async Task A_file_is_invisible_until_completed_and_parts_may_arrive_in_any_order_or_twice()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var upload = await destination.StartFileAsync("a/b.csv", 0, Csv, CancellationToken.None);
        var second = await destination.UploadPartAsync("a/b.csv", upload, 2, 3, "def"u8.ToArray(), CancellationToken.None);
        var first = await destination.UploadPartAsync("a/b.csv", upload, 1, 0, "abc"u8.ToArray(), CancellationToken.None);
        var again = await destination.UploadPartAsync("a/b.csv", upload, 2, 3, "def"u8.ToArray(), CancellationToken.None);

        Assert.That(await destination.ExistsAsync("a/b.csv", CancellationToken.None), Is.False);
        Assert.That(again, Is.EqualTo(second));
        await destination.CompleteFileAsync("a/b.csv", upload, [first, second], 6, CancellationToken.None);
        Assert.That(await File.ReadAllTextAsync(Path.Combine(_ws.Output, "a", "b.csv")), Is.EqualTo("abcdef"));
        // Completing again (a redelivered message) is harmless: same file, nothing left behind.
        await destination.CompleteFileAsync("a/b.csv", upload, [first, second], 6, CancellationToken.None);
        Assert.That(await File.ReadAllTextAsync(Path.Combine(_ws.Output, "a", "b.csv")), Is.EqualTo("abcdef"));
        Assert.That(TestWorkspace.Snapshot(_ws.Output).Keys, Is.EqualTo(new[] { Path.Combine("a", "b.csv") }));
        // Completing with a different length is not mistaken for the earlier completion.
        Assert.That(async () => await destination.CompleteFileAsync("a/b.csv", upload, [first], 3, CancellationToken.None),
            Throws.InstanceOf<DestinationException>().With.Message.Contains("is gone"));
    }

    [Test]
    public async Task Starting_a_runs_file_again_reuses_its_upload_and_keeps_the_parts_already_written()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var upload = await destination.StartFileAsync("run-1", "a.csv", 6, Csv, CancellationToken.None);
        var first = await destination.UploadPartAsync("a.csv", upload, 1, 0, "abc"u8.ToArray(), CancellationToken.None);
        // A restart before the upload id was recorded starts the file again (and another process may too).
        var again = await new LocalFolderDestination(_ws.Output).StartFileAsync("run-1", "a.csv", 6, Csv, CancellationToken.None);
        var other = await destination.StartFileAsync("run-2", "a.csv", 6, Csv, CancellationToken.None);

        Assert.That(again, Is.EqualTo(upload));
        Assert.That(other, Is.Not.EqualTo(upload), "another run's upload of the same key is its own");
        Assert.That(Directory.GetFiles(Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder)).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { upload + ".partial", other + ".partial" }));
        var second = await destination.UploadPartAsync("a.csv", again, 2, 3, "def"u8.ToArray(), CancellationToken.None);
        await destination.CompleteFileAsync("a.csv", again, [first, second], 6, CancellationToken.None);
        Assert.That(await File.ReadAllTextAsync(Path.Combine(_ws.Output, "a.csv")), Is.EqualTo("abcdef"), "part 1 survived the second start");
    }

    [Test]
    public async Task Unrecorded_uploads_of_a_run_are_aborted_except_the_recorded_one_and_the_folder_goes_with_the_last()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var kept = await destination.StartFileAsync("run-1", "a.csv", 3, Csv, CancellationToken.None);
        await destination.StartFileAsync("run-1", "b.csv", 3, Csv, CancellationToken.None);
        var incomplete = Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder);

        await destination.AbortUnrecordedAsync("run-1", "a.csv", kept, CancellationToken.None);
        await destination.AbortUnrecordedAsync("run-1", "b.csv", kept, CancellationToken.None);
        Assert.That(Directory.GetFiles(incomplete).Select(Path.GetFileName), Is.EqualTo(new[] { kept + ".partial" }));

        await destination.AbortUnrecordedAsync("run-1", "a.csv", null, CancellationToken.None);
        Assert.That(Directory.Exists(incomplete), Is.False, "consumers listing the folder find no empty .incomplete/");
        // Nothing left to abort is not an error.
        await destination.AbortUnrecordedAsync("run-1", "a.csv", null, CancellationToken.None);
    }

    [Test]
    public async Task A_streamed_part_is_copied_in_blocks_and_gets_the_same_receipt_as_a_buffered_one()
    {
        var bytes = new byte[2 * 1024 * 1024 + 12_345 + 3];
        new Random(7).NextBytes(bytes);
        var destination = new LocalFolderDestination(_ws.Output);
        var upload = await destination.StartFileAsync("big.bin", bytes.Length, Csv, CancellationToken.None);
        var reads = new List<(long Offset, int Length)>();
        var first = await destination.UploadPartAsync("big.bin", upload, 1, 0, 3, (o, into, _) => { bytes.AsMemory((int)o, into.Length).CopyTo(into); return Task.CompletedTask; }, CancellationToken.None);
        var second = await destination.UploadPartAsync("big.bin", upload, 2, 3, bytes.Length - 3, (o, into, _) =>
        {
            reads.Add((o, into.Length));
            bytes.AsMemory(3 + (int)o, into.Length).CopyTo(into);
            return Task.CompletedTask;
        }, CancellationToken.None);

        Assert.That(reads, Has.Count.EqualTo(3), "1 MiB blocks");
        Assert.That(reads.Max(r => r.Length), Is.EqualTo(1024 * 1024));
        var other = new LocalFolderDestination(Path.Combine(_ws.Root, "other"));
        var buffered = await other.UploadPartAsync("big.bin", await other.StartFileAsync("big.bin", bytes.Length, Csv, CancellationToken.None), 2, 3, bytes.AsMemory(3), CancellationToken.None);
        Assert.That(second, Is.EqualTo(buffered));
        await destination.CompleteFileAsync("big.bin", upload, [first, second], bytes.Length, CancellationToken.None);
        Assert.That(await File.ReadAllBytesAsync(Path.Combine(_ws.Output, "big.bin")), Is.EqualTo(bytes));
    }

    [Test]
    public async Task Completion_refuses_parts_whose_bytes_changed()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var upload = await destination.StartFileAsync("x.csv", 0, Csv, CancellationToken.None);
        var part = await destination.UploadPartAsync("x.csv", upload, 1, 0, "abc"u8.ToArray(), CancellationToken.None);
        await destination.UploadPartAsync("x.csv", upload, 1, 0, "abd"u8.ToArray(), CancellationToken.None);

        Assert.That(async () => await destination.CompleteFileAsync("x.csv", upload, [part], 3, CancellationToken.None),
            Throws.InvalidOperationException.With.Message.Contains("checksum"));
        Assert.That(await destination.ExistsAsync("x.csv", CancellationToken.None), Is.False);
    }

    [Test]
    public async Task A_full_disk_gives_a_message_naming_the_file_and_the_fix()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var upload = await destination.StartFileAsync("x.csv", 0, Csv, CancellationToken.None);
        // Route the upload's bytes to /dev/full, which fails every write with ENOSPC like a full disk.
        var temp = Directory.GetFiles(Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder)).Single();
        File.Delete(temp);
        File.CreateSymbolicLink(temp, "/dev/full");

        var error = await Assert.ThrowsAsync<DestinationException>(async () =>
            await destination.UploadPartAsync("x.csv", upload, 1, 0, new byte[100_000], CancellationToken.None));
        Assert.That(error!.Message, Does.Contain("x.csv").And.Contain("the disk is full").And.Contain("Free space"));
        var streamed = await Assert.ThrowsAsync<DestinationException>(async () =>
            await destination.UploadPartAsync("x.csv", upload, 1, 0, 100_000, (_, into, _) => { into.Span.Fill(7); return Task.CompletedTask; }, CancellationToken.None));
        Assert.That(streamed!.Message, Does.Contain("x.csv").And.Contain("the disk is full"));
    }

    [Test]
    public async Task Aborting_removes_the_upload_and_sweeping_removes_old_leftovers()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var aborted = await destination.StartFileAsync("a.csv", 0, Csv, CancellationToken.None);
        await destination.StartFileAsync("b.csv", 0, Csv, CancellationToken.None);
        await destination.AbortFileAsync("a.csv", aborted, CancellationToken.None);

        Assert.That(Directory.GetFiles(Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder)), Has.Length.EqualTo(1));
        Assert.That(destination.SweepIncomplete(DateTimeOffset.UtcNow.AddHours(1)), Is.EqualTo(1));
        Assert.That(Directory.GetFiles(Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder)), Is.Empty);
    }

    [Test]
    public void A_cancelled_put_leaves_no_partial_file_behind()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        using var stopping = new CancellationTokenSource();
        stopping.Cancel(); // the host is shutting down while the manifest is written

        Assert.That(async () => await destination.PutObjectAsync("run.manifest.json", new byte[1 << 20], Csv, stopping.Token),
            Throws.InstanceOf<OperationCanceledException>());
        Assert.That(TestWorkspace.Snapshot(_ws.Output), Is.Empty, "neither the manifest nor its temporary file nor .incomplete/");
    }

    [Test]
    public async Task What_a_killed_put_left_is_removed_by_the_next_put_of_its_key_and_a_recent_one_is_kept()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var incomplete = Path.Combine(_ws.Output, LocalFolderDestination.IncompleteFolder);
        Directory.CreateDirectory(incomplete);
        // What a kill -9 leaves: a put's temporary file, half written, no longer touched by anyone.
        var dead = Path.Combine(incomplete, "put-" + KeyHash("run.manifest.json") + "-" + Guid.NewGuid().ToString("N") + ".partial");
        await File.WriteAllTextAsync(dead, "{\"half");
        File.SetLastWriteTimeUtc(dead, DateTime.UtcNow - LocalFolderDestination.DeadPutAge - TimeSpan.FromMinutes(1));
        // A put of the same key still writing in another process: not dead yet, so it stays.
        var live = Path.Combine(incomplete, "put-" + KeyHash("run.manifest.json") + "-" + Guid.NewGuid().ToString("N") + ".partial");
        await File.WriteAllTextAsync(live, "{\"wri");

        await destination.PutObjectAsync("run.manifest.json", "{}"u8.ToArray(), Csv, CancellationToken.None);

        Assert.That(TestWorkspace.Snapshot(_ws.Output).Keys, Is.EquivalentTo(new[] { "run.manifest.json", LocalFolderDestination.IncompleteFolder + "/" + Path.GetFileName(live) }));
        Assert.That(await File.ReadAllTextAsync(Path.Combine(_ws.Output, "run.manifest.json")), Is.EqualTo("{}"));
    }

    [Test]
    public async Task Two_puts_of_one_key_at_once_both_succeed_and_leave_one_whole_file()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        var content = new byte[4 << 20];
        new Random(7).NextBytes(content);

        // A redelivered completion writes the manifest while the first delivery still does.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => destination.PutObjectAsync("run.manifest.json", content, Csv, CancellationToken.None))));

        Assert.That(TestWorkspace.Snapshot(_ws.Output).Keys, Is.EqualTo(new[] { "run.manifest.json" }), "no temporary file left, no .incomplete/");
        Assert.That(await File.ReadAllBytesAsync(Path.Combine(_ws.Output, "run.manifest.json")), Is.EqualTo(content));
    }

    private static string KeyHash(string key) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..32];

    [Test]
    public void Keys_that_leave_the_folder_are_refused()
    {
        var destination = new LocalFolderDestination(_ws.Output);
        Assert.That(async () => await destination.PutObjectAsync("../escape.json", "{}"u8.ToArray(), Csv, CancellationToken.None),
            Throws.InstanceOf<DestinationException>());
    }
}
