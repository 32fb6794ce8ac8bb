namespace Pipeline.Local;

/// <summary>
/// Which process works on a run: an exclusive lock on `locks/RUNID.lock` next to the state file, held while this
/// process drives the run. The operating system drops the lock when the process ends, even on kill -9, so a
/// restarted `run` takes over at once, while a second live `run` on the same config leaves the run to its owner.
/// </summary>
public sealed class RunLocks(string folder) : IDisposable
{
    private readonly Dictionary<string, FileStream> _held = new(StringComparer.Ordinal);

    public string Folder { get; } = Path.GetFullPath(folder);

    /// <summary>True when this process holds (or now took) the run's lock; false when another process holds it.</summary>
    public bool TryAcquire(string runId)
    {
        lock (_held)
        {
            if (_held.ContainsKey(runId)) return true;
            Directory.CreateDirectory(Folder);
            try
            {
                // FileShare.None is an exclusive flock on Unix and a sharing lock on Windows: both end with the process.
                _held[runId] = new FileStream(PathFor(runId), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
                return true;
            }
            catch (IOException)
            {
                return false;
            }
        }
    }

    public IReadOnlyList<string> Held
    {
        get { lock (_held) return [.. _held.Keys]; }
    }

    /// <summary>Lets go of a run; the lock file of a finished run is removed (nobody needs to own it any more).</summary>
    public void Release(string runId, bool finished)
    {
        lock (_held)
        {
            if (!_held.Remove(runId, out var stream)) return;
            if (finished)
            {
                try { File.Delete(PathFor(runId)); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            stream.Dispose();
        }
    }

    private string PathFor(string runId) => Path.Combine(Folder, runId + ".lock");

    public void Dispose()
    {
        lock (_held)
        {
            foreach (var stream in _held.Values) stream.Dispose();
            _held.Clear();
        }
    }
}
