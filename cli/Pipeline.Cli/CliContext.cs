using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.Cli;

/// <summary>What every command shares: logging, error-to-exit-code mapping, and number formatting.</summary>
internal static class CliContext
{
    public static readonly Option<bool> VerboseOption = new("--verbose", "-v")
    {
        Description = "Log each stage (to stderr).",
        Recursive = true,
    };

    public static ILoggerFactory Loggers(ParseResult parse) => new FieldScopeLoggerFactory(LoggerFactory.Create(b => b
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace) // logs go to stderr; stdout stays for results
        .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; o.IncludeScopes = true; }) // scopes carry run, file and part
        .AddFilter("Microsoft", LogLevel.Warning)
        // Failed runs are reported by the command itself; the stage's error log would say it twice.
        .AddFilter("Pipeline.Engine.Runs.ExportStages", parse.GetValue(VerboseOption) ? LogLevel.Information : LogLevel.Critical)
        .SetMinimumLevel(parse.GetValue(VerboseOption) ? LogLevel.Information : LogLevel.Warning)));

    /// <summary>Runs a command body; errors a user can fix become one clear message and an exit code, not a stack trace.</summary>
    public static async Task<int> GuardAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine(e.Message);
            return ExitCodes.BadUsage;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return ExitCodes.BadUsage;
        }
        catch (Exception e) when (e is SourceException or MalformedRowException or DestinationException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return ExitCodes.ExportFailed;
        }
        // (An SDK retry that gave up only on timeouts holds no RequestFailedException, but is the SDK's all the same.)
        catch (Exception e) when (StorageOutage.IsAzureFailure(e) || StorageOutage.IsStorageOutage(e))
        {
            // Status and code only: the SDK's message carries response details that help nobody here.
            Console.Error.WriteLine($"error: an Azure Storage request failed ({StorageOutage.Describe(e)}). Rerun the same command to resume: finished work is kept.");
            return ExitCodes.ExportFailed;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("Cancelled. Rerun the same command to resume: finished work is kept, nothing half-written is published.");
            return ExitCodes.ExportFailed;
        }
    }

    /// <summary>
    /// How the user can call this program again: `pipeline` when that is on PATH, `dotnet run --project ...`
    /// from a build in the repository, else the binary's (or pipeline.dll's) full path.
    /// </summary>
    public static string SelfCommand()
    {
        var process = Environment.ProcessPath ?? "pipeline";
        var underDotnet = Path.GetFileNameWithoutExtension(process) == "dotnet";
        if (!underDotnet && IsOnPath(process)) return "pipeline";
        return FromProjectBuild(AppContext.BaseDirectory)
               ?? (underDotnet ? $"dotnet {Quote(Path.Combine(AppContext.BaseDirectory, "pipeline.dll"))}" : Quote(process));
    }

    private static bool IsOnPath(string process)
    {
        var self = Path.GetFullPath(new FileInfo(process).ResolveLinkTarget(true)?.FullName ?? process);
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = new FileInfo(Path.Combine(dir, OperatingSystem.IsWindows() ? "pipeline.exe" : "pipeline"));
            if (!candidate.Exists) continue;
            // The first `pipeline` on PATH is what the shell runs: it must be this one.
            return string.Equals(Path.GetFullPath(candidate.ResolveLinkTarget(true)?.FullName ?? candidate.FullName), self, StringComparison.Ordinal);
        }
        return false;
    }

    /// <summary>A build in the repository (cli/Pipeline.Cli/bin/CONFIG/TFM): `dotnet run` rebuilds it when the code changes.</summary>
    private static string? FromProjectBuild(string baseDirectory)
    {
        var tfm = new DirectoryInfo(baseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var config = tfm.Parent;
        var project = config?.Parent is { Name: "bin" } bin ? bin.Parent : null;
        if (project is null || !File.Exists(Path.Combine(project.FullName, "Pipeline.Cli.csproj"))) return null;
        return $"dotnet run --project {Quote(Path.GetRelativePath(Environment.CurrentDirectory, project.FullName))} -c {config!.Name} --";
    }

    /// <summary>A path as a shell reads it: single-quoted when it holds anything but plain characters.</summary>
    public static string Quote(string path) =>
        path.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or ':' or '\\') ? path : "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The activation a command names, or a usage error with the config, the nearest id and the choices.</summary>
    /// <param name="named">How the command line named it, for the message: "--activation ID" or "activation \"ID\"".</param>
    public static SegmentActivation RequireActivation(PipelineConfig config, string id, string named)
    {
        if (config.FindActivation(id) is { } activation) return activation;
        var ids = config.Activations.Select(a => a.Id).ToList();
        var near = NameHints.Nearest(id, ids);
        throw new UsageException($"{named}: no such activation in {config.FilePath}{(near is null ? "" : $"; did you mean \"{near}\"?")} " +
                                 $"Use one of: {string.Join(", ", ids)}.");
    }

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static string Size(long bytes) => ByteSize.Format(bytes);
}

/// <summary>Bad command-line input that the parser could not catch (a bad size, a bad destination).</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Shows rows, bytes and rate while an export runs: a self-updating line on a terminal, a plain line
/// every few seconds when output is redirected (logs, CI).
/// </summary>
internal sealed class ProgressDisplay : IAsyncDisposable
{
    private readonly ExportProgress _progress;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private readonly DateTimeOffset _started = TimeProvider.System.GetUtcNow();

    public ProgressDisplay(ExportProgress progress)
    {
        _progress = progress;
        _loop = Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(_interactive ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(5));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token)) Print(final: false);
        }
        catch (OperationCanceledException) { }
    }

    private void Print(bool final)
    {
        var seconds = Math.Max(0.001, (TimeProvider.System.GetUtcNow() - _started).TotalSeconds);
        var read = _progress.RowsRead;
        if (read == 0 && !final) return;
        var line = $"{CliContext.Count(read)} rows read, {CliContext.Count(_progress.RowsWritten)} exported, " +
                   $"{CliContext.Size(_progress.BytesStaged)} built, {CliContext.Size(_progress.BytesDelivered)} delivered, " +
                   $"{CliContext.Count((long)(read / seconds))} rows/s";
        if (_interactive) Console.Error.Write("\r" + line.PadRight(Console.IsErrorRedirected ? 0 : Math.Max(0, SafeWidth() - 1)) + (final ? Environment.NewLine : ""));
        else if (!final) Console.Error.WriteLine("progress: " + line);
    }

    private static int SafeWidth()
    {
        try { return Console.WindowWidth; } catch (IOException) { return 100; }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        if (_interactive && _progress.RowsRead > 0) Print(final: true);
        _stop.Dispose();
    }
}
