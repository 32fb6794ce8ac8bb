using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pipeline.TestKit.Emulators;

/// <summary>The emulators of tests/emulators (tests/emulators/README.md says what each lacks).</summary>
public enum EmulatorKind
{
    /// <summary>fauxqs 1.9.2: AWS SDK defaults work (aws-chunked, checksums); S3-like multipart ETags; abort works; no ListParts/ListMultipartUploads; bodies up to 11 MiB.</summary>
    Fauxqs,
    /// <summary>s3rver 3.7.1: stores aws-chunked framing unless chunk encoding is off (compatibility mode); no abort, no ListMultipartUploads.</summary>
    S3rver,
    /// <summary>Azurite 3.37.0 in memory: Blob, Queue and Table services on three ports.</summary>
    Azurite,
}

/// <summary>
/// One emulator as a child process on free loopback ports, from the npm packages in tests/emulators (installed on
/// first use). It exits when its stdin closes, so it cannot outlive the test run even if teardown never runs.
/// </summary>
public sealed class EmulatorProcess : IAsyncDisposable
{
    /// <summary>How often a start is retried with new ports when another process took a port between pick and bind.</summary>
    public const int BindAttempts = 5;

    private readonly Process _process;
    private readonly string? _dataDirectory;
    private readonly StringBuilder _errors;

    private EmulatorProcess(EmulatorKind kind, Process process, IReadOnlyList<int> ports, string? dataDirectory, StringBuilder errors)
    {
        Kind = kind;
        _process = process;
        Ports = ports;
        _dataDirectory = dataDirectory;
        _errors = errors;
        Endpoint = $"http://127.0.0.1:{ports[0]}";
    }

    public EmulatorKind Kind { get; }

    /// <summary>The loopback ports it listens on: one for the S3 emulators; blob, queue, table for Azurite.</summary>
    public IReadOnlyList<int> Ports { get; }

    /// <summary>The first service's base URL (the S3 endpoint; Azurite's blob port without the account).</summary>
    public string Endpoint { get; }

    /// <summary>Azurite's endpoints and connection string; only for <see cref="EmulatorKind.Azurite"/>.</summary>
    public AzuriteEndpoints Azurite => Kind == EmulatorKind.Azurite
        ? new AzuriteEndpoints(Ports[0], Ports[1], Ports[2])
        : throw new InvalidOperationException($"{Kind} is not Azurite.");

    public static Task<EmulatorProcess> StartAsync(EmulatorKind kind, CancellationToken cancellationToken) =>
        StartAsync(kind, beforeStart: null, cancellationToken);

    /// <summary>Starts it; <paramref name="beforeStart"/> sees each attempt's number and ports before node binds them (tests of the retry).</summary>
    public static async Task<EmulatorProcess> StartAsync(EmulatorKind kind, Action<int, IReadOnlyList<int>>? beforeStart,
        CancellationToken cancellationToken)
    {
        var folder = EmulatorsFolder();
        await EmulatorInstall.For(folder).EnsureInstalledAsync(cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            var ports = FreePorts(kind == EmulatorKind.Azurite ? 3 : 1);
            beforeStart?.Invoke(attempt, ports);
            var (emulator, failure) = await TryStartAsync(kind, folder, ports, cancellationToken);
            if (emulator is not null) return emulator;
            // The ports were free when picked but released before node bound them: another process may have taken one.
            if (IsBindFailure(failure!.Stderr) && attempt < BindAttempts) continue;
            throw new InvalidOperationException(
                $"{kind} did not start on port(s) {string.Join(", ", ports)} (attempt {attempt} of {BindAttempts}): {failure.Reason}\n{failure.Stderr}");
        }
    }

    /// <summary>Whether a child's stderr says it could not bind its port (node's EADDRINUSE).</summary>
    public static bool IsBindFailure(string stderr) =>
        stderr.Contains("EADDRINUSE", StringComparison.Ordinal) || stderr.Contains("address already in use", StringComparison.OrdinalIgnoreCase);

    private sealed record StartFailure(string Reason, string Stderr);

    private static async Task<(EmulatorProcess?, StartFailure?)> TryStartAsync(EmulatorKind kind, string folder, IReadOnlyList<int> ports,
        CancellationToken cancellationToken)
    {
        string? data = null;
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        switch (kind)
        {
            case EmulatorKind.Fauxqs:
                start.ArgumentList.Add("fauxqs.mjs");
                break;
            case EmulatorKind.S3rver:
                start.ArgumentList.Add("s3rver.mjs");
                break;
            case EmulatorKind.Azurite:
                start.ArgumentList.Add("azurite.mjs");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
        foreach (var port in ports) start.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        if (kind == EmulatorKind.S3rver)
        {
            data = Path.Combine(Path.GetTempPath(), "pipeline-s3rver", Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(data);
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
        var errors = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var emulator = new EmulatorProcess(kind, process, ports, data, errors);
        try
        {
            foreach (var port in ports) await WaitUntilListeningAsync(process, port, TimeSpan.FromSeconds(60), cancellationToken);
            return (emulator, null);
        }
        catch (Exception e) when (e is InvalidOperationException or SocketException)
        {
            await emulator.DisposeAsync();
            return (null, new StartFailure(e.Message, emulator.Stderr));
        }
        catch
        {
            await emulator.DisposeAsync();
            throw;
        }
    }

    /// <summary>What the emulator wrote to stderr so far (for failure messages).</summary>
    public string Stderr
    {
        get
        {
            lock (_errors) return _errors.ToString();
        }
    }

    /// <summary>Polls the port until it accepts a connection (no fixed sleeps), or the process exits.</summary>
    private static async Task WaitUntilListeningAsync(Process process, int port, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                // Exit is observed before the stderr pipe is drained: wait for it so the bind error is in the message.
                await process.WaitForExitAsync(cancellationToken);
                throw new InvalidOperationException($"node exited with code {process.ExitCode}.");
            }
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

    /// <summary>
    /// Distinct free loopback ports. They are released before node binds them, so another process can take one in
    /// between: <see cref="StartAsync"/> retries with new ports when the child reports a bind failure.
    /// </summary>
    public static IReadOnlyList<int> FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            // Held open together so the ports are distinct.
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToList();
        }
        finally
        {
            foreach (var listener in listeners) listener.Stop();
        }
    }

    public static int FreePort() => FreePorts(1)[0];

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

/// <summary>Azurite's three services on loopback, with the well-known development account.</summary>
public sealed record AzuriteEndpoints(int BlobPort, int QueuePort, int TablePort)
{
    public const string AccountName = "devstoreaccount1";

    /// <summary>The published development account key (not a secret: it is the same in every Azurite).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    public Uri BlobServiceUri => new($"http://127.0.0.1:{BlobPort}/{AccountName}");

    public Uri QueueServiceUri => new($"http://127.0.0.1:{QueuePort}/{AccountName}");

    public Uri TableServiceUri => new($"http://127.0.0.1:{TablePort}/{AccountName}");

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
        $"BlobEndpoint={BlobServiceUri};QueueEndpoint={QueueServiceUri};TableEndpoint={TableServiceUri};";
}
