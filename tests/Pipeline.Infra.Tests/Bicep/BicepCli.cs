using System.Diagnostics;
using System.Text;

namespace Pipeline.Infra.Tests.Bicep;

/// <summary>The pinned bicep CLI (infra/install-bicep.sh restores it from NuGet when it is missing).</summary>
internal sealed class BicepCli
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    // Variables main.bicepparam reads: cleared so the tests see its defaults whatever the shell exports.
    private static readonly string[] ParameterEnvironment = ["AZURE_ENV_NAME", "PIPELINE_AWS_ROLE_ARN", "PIPELINE_DEPLOYER_PRINCIPAL_ID", "PIPELINE_DEPLOYER_PRINCIPAL_TYPE"];

    private readonly string _path;

    private BicepCli(string path) => _path = path;

    public static async Task<BicepCli> InstallAsync(string repoRoot, CancellationToken cancellationToken)
    {
        var script = Path.Combine(repoRoot, "infra", "install-bicep.sh");
        var result = await RunAsync("bash", [script], repoRoot, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} failed (exit {result.ExitCode}): {result.Output}");
        }

        var path = result.StandardOutput.Trim().Split('\n')[^1];
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"{script} printed \"{path}\", which is not a file.");
        }

        return new BicepCli(path);
    }

    /// <summary>Runs bicep in <paramref name="workingDirectory"/> and fails on a non-zero exit.</summary>
    public async Task<CommandResult> RunAsync(string workingDirectory, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var result = await RunAsync(_path, arguments, workingDirectory, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"bicep {string.Join(' ', arguments)} failed (exit {result.ExitCode}): {result.Output}");
        }

        return result;
    }

    private static async Task<CommandResult> RunAsync(string fileName, IReadOnlyList<string> arguments, string workingDirectory, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in ParameterEnvironment)
        {
            start.Environment.Remove(name);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {CommandTimeout}.");
        }

        return new CommandResult(process.ExitCode, await stdout, await stderr);
    }
}

internal sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Output => new StringBuilder().Append(StandardOutput).Append(StandardError).ToString();
}
