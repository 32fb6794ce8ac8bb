using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Pipeline.TestKit.Emulators;

/// <summary>Whether tests/emulators/node_modules matches package.json and package-lock.json.</summary>
public enum InstallState
{
    Missing,
    Stale,
    Current,
}

/// <summary>
/// Installs the npm emulators of one folder with `npm ci` when node_modules is missing or older than the lock file,
/// once per test run: once per process (a cached task) and once across the test projects that `dotnet test` runs in
/// parallel processes (an exclusive lock file, re-checked after it is taken).
/// </summary>
public sealed class EmulatorInstall
{
    public const string InstallCommand = "npm ci --prefix tests/emulators --no-audit --no-fund";

    /// <summary>Written into node_modules after a successful install: the hash of the manifests it installed.</summary>
    public const string StampFile = ".pipeline-install-stamp";

    public const string LockFile = ".install.lock";

    private static readonly ConcurrentDictionary<string, Lazy<Task>> Installs = new(StringComparer.Ordinal);

    private readonly string _folder;
    private readonly string _npm;
    private readonly TimeSpan _limit;

    public EmulatorInstall(string folder, string npm = "npm", TimeSpan? limit = null)
    {
        _folder = Path.GetFullPath(folder);
        _npm = npm;
        _limit = limit ?? TimeSpan.FromMinutes(10);
    }

    public static EmulatorInstall For(string folder) => new(folder);

    public InstallState State
    {
        get
        {
            var stamp = Path.Combine(_folder, "node_modules", StampFile);
            if (!Directory.Exists(Path.Combine(_folder, "node_modules")) || !File.Exists(stamp)) return InstallState.Missing;
            return File.ReadAllText(stamp).Trim() == ManifestHash() ? InstallState.Current : InstallState.Stale;
        }
    }

    /// <summary>Returns at once when the install is current; otherwise installs (or waits for another process that does).</summary>
    public Task EnsureInstalledAsync(CancellationToken cancellationToken)
    {
        if (State == InstallState.Current) return Task.CompletedTask;
        var install = Installs.GetOrAdd(_folder + "\n" + _npm, _ => new Lazy<Task>(() => InstallUnderLockAsync(CancellationToken.None)));
        return install.Value.WaitAsync(cancellationToken);
    }

    private async Task InstallUnderLockAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        await using var held = await AcquireLockAsync(deadline, cancellationToken);
        // Another test process may have installed while this one waited for the lock.
        if (State == InstallState.Current) return;
        var output = new StringBuilder();
        var start = new ProcessStartInfo(_npm)
        {
            WorkingDirectory = _folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "ci", "--prefix", _folder, "--no-audit", "--no-fund" }) start.ArgumentList.Add(arg);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"`{_npm}` did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"The test emulators in {_folder} are not installed, and `{_npm}` cannot be run to install them ({e.Message}). " +
                $"Install Node.js 20 or later with npm, then run the tests again (or `{InstallCommand}` from the repository root).", e);
        }
        using (process)
        {
            process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_limit - deadline.Elapsed);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"`npm ci` in {_folder} did not finish within {_limit.TotalMinutes:0} minutes. {Excerpt(output)}");
            }
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"Installing the test emulators failed: `npm ci` in {_folder} exited with code {process.ExitCode}. " +
                    $"Fix what npm reports below (network, registry, Node.js version), then run the tests again or `{InstallCommand}`.\n{Excerpt(output)}");
            }
        }
        await File.WriteAllTextAsync(Path.Combine(_folder, "node_modules", StampFile), ManifestHash(), cancellationToken);
    }

    private async Task<FileStream> AcquireLockAsync(Stopwatch deadline, CancellationToken cancellationToken)
    {
        var path = Path.Combine(_folder, LockFile);
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive lock that the OS drops if the holding process dies.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
            }
            catch (IOException) when (deadline.Elapsed < _limit)
            {
                await Task.Delay(200, cancellationToken);
            }
            catch (IOException e)
            {
                throw new InvalidOperationException($"Another process held {path} for {_limit.TotalMinutes:0} minutes while installing the test emulators.", e);
            }
        }
    }

    private string ManifestHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var name in new[] { "package.json", "package-lock.json" })
        {
            var path = Path.Combine(_folder, name);
            sha.AppendData(Encoding.UTF8.GetBytes(name + "\n"));
            if (File.Exists(path)) sha.AppendData(File.ReadAllBytes(path));
        }
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>The start of npm's output: it names the cause first and appends its usage text after.</summary>
    private static string Excerpt(StringBuilder output)
    {
        string text;
        lock (output) text = output.ToString().Trim();
        return text.Length <= 3000 ? text : text[..3000] + "...";
    }
}
