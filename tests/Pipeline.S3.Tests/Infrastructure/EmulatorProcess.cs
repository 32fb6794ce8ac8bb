using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>The S3 emulators of tests/emulators (see shared/test-infra.md for what each lacks).</summary>
public enum EmulatorKind
{
    /// <summary>fauxqs 1.9.2: AWS SDK defaults work (aws-chunked, checksums); S3-like multipart ETags; abort works; no ListParts/ListMultipartUploads; bodies up to 11 MiB.</summary>
    Fauxqs,
    /// <summary>s3rver 3.7.1: stores aws-chunked framing unless chunk encoding is off (compatibility mode); no abort, no ListMultipartUploads.</summary>
    S3rver,
}

/// <summary>
/// One emulator as a child process on a free loopback port, from the npm package in tests/emulators. It exits
/// when its stdin closes, so it cannot outlive the test run even if teardown never runs.
/// </summary>
internal sealed class EmulatorProcess : IAsyncDisposable
{
    public const string InstallCommand = "npm ci --prefix tests/emulators";

    private readonly Process _process;
    private readonly string? _dataDirectory;

    private EmulatorProcess(EmulatorKind kind, Process process, int port, string? dataDirectory)
    {
        Kind = kind;
        _process = process;
        _dataDirectory = dataDirectory;
        Endpoint = $"http://127.0.0.1:{port}";
    }

    public EmulatorKind Kind { get; }

    public string Endpoint { get; }

    public static async Task<EmulatorProcess> StartAsync(EmulatorKind kind, CancellationToken cancellationToken)
    {
        var folder = EmulatorsFolder();
        if (MissingInstall(folder, kind) is { } missing) throw new InvalidOperationException(missing);
        var port = FreePort();
        string? data = null;
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (kind == EmulatorKind.Fauxqs)
        {
            start.ArgumentList.Add("fauxqs.mjs");
            start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            data = Path.Combine(Path.GetTempPath(), "pipeline-s3rver", Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(data);
            start.ArgumentList.Add("s3rver.mjs");
            start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            start.ArgumentList.Add(data);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Cannot run `node` to start {kind} (is Node.js 20+ on PATH?): {e.Message}", e);
        }
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var emulator = new EmulatorProcess(kind, process, port, data);
        try
        {
            await WaitUntilListeningAsync(process, port, TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch (Exception e)
        {
            await emulator.DisposeAsync();
            string stderr;
            lock (errors) stderr = errors.ToString();
            throw new InvalidOperationException($"{kind} did not start on port {port}: {e.Message}\n{stderr}", e);
        }
        return emulator;
    }

    /// <summary>Why the emulator cannot start from <paramref name="folder"/>, or null when its package is installed.</summary>
    public static string? MissingInstall(string folder, EmulatorKind kind) =>
        Directory.Exists(Path.Combine(folder, "node_modules", kind == EmulatorKind.Fauxqs ? "fauxqs" : "s3rver"))
            ? null
            : $"The S3 emulator {kind} is not installed in {folder}. Run `{InstallCommand}` from the repository root (CI does this in .ci/run).";

    /// <summary>Polls the port until it accepts a connection (no fixed sleeps), or the process exits.</summary>
    private static async Task WaitUntilListeningAsync(Process process, int port, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"node exited with code {process.ExitCode}.");
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < limit)
            {
                await Task.Delay(25, cancellationToken);
            }
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>tests/emulators, found by walking up from the test binaries to the repository root.</summary>
    public static string EmulatorsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "emulators");
            if (File.Exists(Path.Combine(candidate, "package.json"))) return candidate;
        }
        throw new InvalidOperationException($"tests/emulators/package.json not found above {AppContext.BaseDirectory}.");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        if (_dataDirectory is not null)
        {
            try { Directory.Delete(_dataDirectory, recursive: true); } catch (IOException) { }
        }
    }
}
