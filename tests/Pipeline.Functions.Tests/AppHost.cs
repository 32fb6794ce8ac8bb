using System.Text.Json.Nodes;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Pipeline.Functions.Tests;

/// <summary>
/// The app's own host, built as Program.cs builds it (<see cref="PipelineFunctionsSetup.AddPipelineFunctions(FunctionsApplicationBuilder)"/>)
/// with the given app settings, never started: no Functions host runs here, and starting needs its gRPC endpoint.
/// </summary>
internal static class AppHost
{
    public static IHost Build(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? replace = null)
    {
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddPipelineFunctions();
        replace?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>A function class as the worker makes one per invocation: constructor arguments from the app's services.</summary>
    public static T Create<T>(this IHost host) => ActivatorUtilities.CreateInstance<T>(host.Services);

    /// <summary>The Values of local.settings.sample.json at the repository root.</summary>
    public static Dictionary<string, string?> SampleSettings()
    {
        var values = JsonNode.Parse(File.ReadAllText(Path.Combine(Repo.Root, "local.settings.sample.json")))!["Values"]!.AsObject();
        return values.ToDictionary(v => v.Key, v => (string?)v.Value, StringComparer.OrdinalIgnoreCase);
    }
}

internal static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>The app's build output (the same configuration as this test assembly): functions.metadata, host.json.</summary>
    public static string AppOutput
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name; // bin/<Configuration>/net10.0/
            return Path.Combine(Root, "functions", "Pipeline.Functions", "bin", configuration, "net10.0");
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }
}
