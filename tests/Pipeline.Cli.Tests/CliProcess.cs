using System.Diagnostics;

namespace Pipeline.Cli.Tests;

/// <summary>Runs the real `pipeline` program (built next to the tests) as a child process.</summary>
internal static class CliProcess
{
    private static string Dll => Path.Combine(AppContext.BaseDirectory, "pipeline.dll");

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static ProcessStartInfo StartInfo(string workingDirectory, params string[] args) => ProgramStartInfo(null, workingDirectory, args);

    /// <summary>Runs <paramref name="program"/> (a published, e.g. Native AOT, build) or, when null, the built pipeline.dll.</summary>
    public static ProcessStartInfo ProgramStartInfo(string? program, string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo(program ?? "dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        // A PipelineStorage in the developer's shell would move every test onto Azure: tests that want it set it themselves.
        foreach (var name in info.Environment.Keys.Where(IsStorageSetting).ToList()) info.Environment.Remove(name);
        if (program is null) info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    private static bool IsStorageSetting(string name) =>
        name.StartsWith("PipelineStorage", StringComparison.OrdinalIgnoreCase) || name.StartsWith("ConnectionStrings__PipelineStorage", StringComparison.OrdinalIgnoreCase);

    public static Task<Result> RunAsync(string workingDirectory, params string[] args) =>
        RunAsync(workingDirectory, new Dictionary<string, string>(), args);

    public static Task<Result> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunProgramAsync(null, workingDirectory, environment, args);

    public static async Task<Result> RunProgramAsync(string? program, string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = ProgramStartInfo(program, workingDirectory, args);
        foreach (var (name, value) in environment) info.Environment[name] = value;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
