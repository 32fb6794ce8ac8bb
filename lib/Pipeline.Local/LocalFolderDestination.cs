using System.Security.Cryptography;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Local;

/// <summary>
/// Delivers files into a local folder with the same multipart discipline as S3: parts are written at
/// their offsets into a hidden file under ".incomplete/", and completion renames it into place
/// (same file system, atomic). Readers of the folder only ever see complete files.
/// </summary>
public sealed class LocalFolderDestination : IExportDestination
{
    public const string IncompleteFolder = ".incomplete";

    private readonly string _root;

    public LocalFolderDestination(string root) => _root = Path.GetFullPath(root);

    public string Describe(string key) => Path.Combine(_root, key);

    /// <summary>
    /// Parts are writes at offsets, so any size from 1 byte works; a part is at most what one array holds (completion
    /// re-reads each part into a buffer to check it); 10,000 parts as on S3, as each is a recorded row; the file system bounds the file.
    /// </summary>
    public static readonly PartLimits Limits = new(1, Array.MaxLength, 10_000, long.MaxValue);

    public PartLimits PartLimits => Limits;

    /// <summary>Starts a file outside any run (its upload id is random).</summary>
    public Task<string> StartFileAsync(string key, long length, ObjectProperties properties, CancellationToken cancellationToken) =>
        StartFileAsync(Guid.NewGuid().ToString("N"), key, length, properties, cancellationToken);

    public Task<string> StartFileAsync(string runId, string key, long length, ObjectProperties properties, CancellationToken cancellationToken)
    {
        var uploadId = UploadIdFor(runId, key);
        Guard(() =>
        {
            // Another run may remove the (empty) folder between these two lines; try again then.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    Directory.CreateDirectory(Path.Combine(_root, IncompleteFolder));
                    // Never truncated: a restart or a racing attempt of the same run reuses the file, and parts land at their offsets.
                    using var _ = new FileStream(TempPath(uploadId), FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
                    return;
                }
                catch (DirectoryNotFoundException) when (attempt < 3) { }
            }
        }, key);
        return Task.FromResult(uploadId);
    }

    /// <summary>
    /// The upload id (and partial file name) of a run's file: a hash of run id and key, so an attempt that starts the
    /// file again after a crash finds the same upload, and a failed run's leftovers can be found without a record.
    /// </summary>
    public static string UploadIdFor(string runId, string key) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(runId + "\n" + key)))[..32];

    public Task AbortUnrecordedAsync(string runId, string key, string? keepUploadId, CancellationToken cancellationToken)
    {
        var uploadId = UploadIdFor(runId, key);
        return uploadId == keepUploadId ? Task.CompletedTask : AbortFileAsync(key, uploadId, cancellationToken);
    }

    /// <summary>A part already in memory goes through the same block copy as a streamed one.</summary>
    public Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
        UploadPartAsync(key, uploadId, partNumber, offset, content.Length, (partOffset, into, _) =>
        {
            content.Slice((int)partOffset, into.Length).CopyTo(into);
            return Task.CompletedTask;
        }, cancellationToken);

    /// <summary>Copies the part in blocks of at most this many bytes, so memory doesn't grow with the part size.</summary>
    private const int CopyBlock = 1 << 20;

    public async Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, long length, PartReader read, CancellationToken cancellationToken)
    {
        var temp = TempPath(uploadId);
        if (!File.Exists(temp))
            throw new DestinationException($"The upload of {Describe(key)} ({uploadId}) no longer exists in {Path.Combine(_root, IncompleteFolder)}; it was aborted or swept.");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var block = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(length, CopyBlock));
        try
        {
            FileStream? stream = null;
            Guard(() => stream = new FileStream(temp, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.Asynchronous), key);
            await using (stream)
            {
                stream!.Seek(offset, SeekOrigin.Begin);
                for (long done = 0; done < length;)
                {
                    var chunk = block.AsMemory(0, (int)Math.Min(block.Length, length - done));
                    await read(done, chunk, cancellationToken); // staging errors are not the destination's
                    sha.AppendData(chunk.Span);
                    await GuardAsync(async () => await stream.WriteAsync(chunk, cancellationToken), key);
                    done += chunk.Length;
                }
                await GuardAsync(async () => await stream.FlushAsync(cancellationToken), key);
            }
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(block); }
        return Receipt(partNumber, offset, length, sha.GetHashAndReset());
    }

    private static PartReceipt Receipt(int partNumber, long offset, long length, byte[] sha) =>
        new(partNumber, offset, length, "\"" + Convert.ToHexStringLower(sha)[..32] + "\"", Convert.ToBase64String(sha));

    public async Task CompleteFileAsync(string key, string uploadId, IReadOnlyList<PartReceipt> parts, long length, CancellationToken cancellationToken)
    {
        var temp = TempPath(uploadId);
        var final = FinalPath(key);
        if (!File.Exists(temp))
        {
            // Completed by an earlier attempt that died before recording it.
            if (File.Exists(final) && new FileInfo(final).Length == length) return;
            throw new DestinationException($"Cannot complete {final}: its upload {uploadId} is gone.");
        }
        var actual = new FileInfo(temp).Length;
        if (actual != length) throw new InvalidOperationException($"The upload of {final} holds {actual} bytes, expected {length}.");
        await VerifyPartsAsync(temp, parts, cancellationToken);
        GuardSync(() =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            using (var handle = File.OpenHandle(temp, FileMode.Open, FileAccess.ReadWrite)) RandomAccess.FlushToDisk(handle);
            File.Move(temp, final, overwrite: true);
        }, key);
        // What consumers see must be what was verified, as on S3 (a second writer could have touched the file).
        var delivered = new FileInfo(final).Length;
        if (delivered != length)
            throw new DestinationException($"{final} holds {delivered} bytes after completion, expected {length}: something else writes to this folder. No manifest lists it; delete it and run the export again.");
    }

    /// <summary>Like S3's completion check: every part's bytes must still match the checksum recorded when it arrived.</summary>
    private static async Task VerifyPartsAsync(string path, IReadOnlyList<PartReceipt> parts, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.Asynchronous);
        var buffer = new byte[parts.Count == 0 ? 0 : parts.Max(p => p.Length)];
        foreach (var part in parts)
        {
            stream.Seek(part.Offset, SeekOrigin.Begin);
            await stream.ReadExactlyAsync(buffer.AsMemory(0, (int)part.Length), cancellationToken);
            if (Convert.ToBase64String(SHA256.HashData(buffer.AsSpan(0, (int)part.Length))) != part.Sha256Base64)
                throw new InvalidOperationException($"Part {part.PartNumber} of {path} does not match its checksum.");
        }
    }

    public Task AbortFileAsync(string key, string uploadId, CancellationToken cancellationToken)
    {
        try { File.Delete(TempPath(uploadId)); }
        catch (DirectoryNotFoundException) { } // no upload is in progress at all: nothing to abort
        RemoveEmptyIncompleteFolder();
        return Task.CompletedTask;
    }

    /// <summary>Consumers listing the folder should find no ".incomplete" folder once no upload is in progress.</summary>
    private void RemoveEmptyIncompleteFolder()
    {
        try { Directory.Delete(Path.Combine(_root, IncompleteFolder)); }
        catch (IOException) { } // not empty (another upload is in progress) or already gone
        catch (UnauthorizedAccessException) { }
    }

    public async Task PutObjectAsync(string key, ReadOnlyMemory<byte> content, ObjectProperties properties, CancellationToken cancellationToken)
    {
        var final = FinalPath(key);
        // Named after the key and this call: two puts of one key (a redelivered completion) never share a file, and a
        // later put of the key finds what a killed one left (below).
        var putId = PutIdFor(key);
        var temp = TempPath(putId + "-" + Guid.NewGuid().ToString("N"));
        try
        {
            await GuardAsync(async () =>
            {
                Directory.CreateDirectory(Path.GetDirectoryName(temp)!);
                Directory.CreateDirectory(Path.GetDirectoryName(final)!);
                await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 12, FileOptions.Asynchronous))
                {
                    await stream.WriteAsync(content, cancellationToken);
                    stream.Flush(flushToDisk: true);
                }
                File.Move(temp, final, overwrite: true);
            }, key);
            RemoveDeadPuts(putId);
        }
        catch
        {
            // Cancelled (the process is stopping) or failed: what this call half wrote must not outlive it.
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        finally
        {
            // The manifest is the run's last write: leave no empty ".incomplete" folder behind.
            RemoveEmptyIncompleteFolder();
        }
    }

    /// <summary>A single put takes well under this; an older temporary file of the same key was left by a killed process.</summary>
    public static readonly TimeSpan DeadPutAge = TimeSpan.FromMinutes(10);

    /// <summary>Removes what puts of this key that a kill -9 cut short left, instead of leaving it to the 7-day sweep.</summary>
    private void RemoveDeadPuts(string putId)
    {
        var folder = Path.Combine(_root, IncompleteFolder);
        try
        {
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles(putId + "-*.partial"))
            {
                if (file.LastWriteTimeUtc < DateTime.UtcNow - DeadPutAge) file.Delete();
            }
        }
        catch (IOException) { } // housekeeping only: the sweep removes whatever is left
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>The temporary name prefix of single puts of this key ("put-" keeps them apart from multipart upload ids).</summary>
    private static string PutIdFor(string key) =>
        "put-" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..32];

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => Task.FromResult(File.Exists(FinalPath(key)));

    /// <summary>Removes uploads left by runs that died long ago.</summary>
    public int SweepIncomplete(DateTimeOffset olderThan)
    {
        var folder = Path.Combine(_root, IncompleteFolder);
        if (!Directory.Exists(folder)) return 0;
        var removed = 0;
        foreach (var file in new DirectoryInfo(folder).EnumerateFiles().Where(f => f.LastWriteTimeUtc < olderThan.UtcDateTime))
        {
            file.Delete();
            removed++;
        }
        return removed;
    }

    private string TempPath(string uploadId) => Path.Combine(_root, IncompleteFolder, uploadId + ".partial");

    private string FinalPath(string key)
    {
        var path = Path.GetFullPath(Path.Combine(_root, key));
        if (!path.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new DestinationException($"The file name \"{key}\" would leave the destination folder {_root}.");
        return path;
    }

    private void GuardSync(Action action, string key) => Guard(action, key);

    private void Guard(Action action, string key)
    {
        try { action(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Explain(e, key);
        }
    }

    private async Task GuardAsync(Func<Task> action, string key)
    {
        try { await action(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Explain(e, key);
        }
    }

    private DestinationException Explain(Exception e, string key)
    {
        // ENOSPC / disk full (HResult 0x70 on Windows, errno 28 on Linux).
        var full = e.HResult == unchecked((int)0x80070070) || (e.HResult & 0xFFFF) == 28 || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);
        var what = full ? "the disk is full" : e is UnauthorizedAccessException ? "permission denied" : e.Message;
        var fix = full ? "Free space on that disk or choose another destination path." : "Check that the folder exists and is writable by this user.";
        return new DestinationException($"Cannot write {Describe(key)} in destination folder {_root}: {what}. {fix}", e);
    }
}

/// <summary>Opens local-folder destinations; other types come from their own adapters.</summary>
public sealed class LocalDestinationFactory : IDestinationFactory
{
    public bool CanOpen(string type) => type == DestinationSpec.LocalType;

    public IExportDestination Open(DestinationSpec spec) => new LocalFolderDestination(spec.Location);
}
