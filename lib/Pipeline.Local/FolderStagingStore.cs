using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.Local;

/// <summary>Staging in a local folder. Writes go to a temporary name and are renamed into place, so a crash never leaves half an object.</summary>
public sealed class FolderStagingStore(string root) : IStagingStore
{
    public string Root { get; } = Path.GetFullPath(root);

    public async Task WriteAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var path = PathFor(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await stream.WriteAsync(content, cancellationToken);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (IOException e)
        {
            TryDelete(temp);
            throw new IOException($"Cannot write staging file {path}: {e.Message}", e);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(PathFor(key), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        }
        catch (DirectoryNotFoundException e)
        {
            // No object was ever written under the key's run: the same "missing" as a missing file.
            throw new FileNotFoundException($"Staging file {PathFor(key)} does not exist.", PathFor(key), e);
        }
        stream.Seek(offset, SeekOrigin.Begin);
        // The range ends after length bytes, as a ranged blob read does (a reader to end of stream must not run on).
        return Task.FromResult<Stream>(new StagedRangeStream(stream, length));
    }

    public Task<long?> GetLengthAsync(string key, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathFor(key));
        return Task.FromResult<long?>(info.Exists ? info.Length : null);
    }

    public Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        // Keys are "runId/..." so a run's prefix is a folder.
        var folder = PathFor(prefix.TrimEnd('/'));
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        return Task.CompletedTask;
    }

    private string PathFor(string key)
    {
        var path = Path.GetFullPath(Path.Combine(Root, key));
        if (!path.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Staging key \"{key}\" leaves the staging folder.", nameof(key));
        return path;
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A read-only view of the next <c>length</c> bytes of a stream; disposing it disposes the stream.</summary>
internal sealed class StagedRangeStream(Stream inner, long length) : ReadOnlyWrapperStream(inner)
{
    private long _remaining = length;

    public override int Read(Span<byte> buffer)
    {
        if (_remaining <= 0) return 0;
        var read = Inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
        _remaining -= read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_remaining <= 0) return 0;
        var read = await Inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken);
        _remaining -= read;
        return read;
    }
}
