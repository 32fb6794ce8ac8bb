using System.CommandLine;
using Azure;
using Pipeline.Azure.Configuration;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Configuration;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline config push|show`: the config published on the storage account, which the Functions app and `run` on Azure read.</summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var push = new Command("push",
            "Check a pipeline.json as `validate` does, then publish it on the PipelineStorage account, where the Functions app and `pipeline run` read their activations.")
        {
            RunCommand.ConfigOption,
        };
        push.SetAction((parse, cancellationToken) => CliContext.GuardAsync(() => PushAsync(parse, cancellationToken)));
        var show = new Command("show", "Print the config published on the PipelineStorage account (to stdout, as published).");
        show.SetAction((parse, cancellationToken) => CliContext.GuardAsync(() => ShowAsync(cancellationToken)));
        return new Command("config", "The config published on Azure Storage (PipelineStorage) for the Functions app and `pipeline run`.") { push, show };
    }

    private static Backend RequireStorage(string command)
    {
        var backend = Backend.FromEnvironment();
        if (backend.IsAzure) return backend;
        var setting = StorageConnection.DefaultSetting;
        throw new UsageException(
            $"`pipeline {command}` works on the storage account named by the {setting} setting, which is not set. Fix: set {setting} to the account's " +
            $"connection string (UseDevelopmentStorage=true for Azurite on its default ports), or {setting}__blobServiceUri, {setting}__queueServiceUri " +
            $"and {setting}__tableServiceUri for an identity-based connection.");
    }

    private static async Task<int> PushAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var backend = RequireStorage("config push");
        backend.Announce();
        var path = parse.GetValue(RunCommand.ConfigOption)!;
        await backend.CheckReachableAsync(cancellationToken);
        // `validate` itself, so an invalid config is refused with its very messages and exit code.
        string[] validate = parse.GetValue(CliContext.VerboseOption) ? ["validate", "--config", path, "-v"] : ["validate", "--config", path];
        var code = await parse.RootCommandResult.Command.Parse(validate)
            .InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, cancellationToken);
        if (code != ExitCodes.Success)
        {
            Console.Error.WriteLine($"Not published: the config published before (if any) at {backend.Published.Location} stays in force.");
            return code;
        }
        var json = await File.ReadAllTextAsync(path, cancellationToken);
        foreach (var warning in RelativePathWarnings(ConfigLoader.Load(path), backend.Published.Parse(json)))
            Console.Error.WriteLine("warning: " + warning);
        var config = await backend.Published.PublishAsync(json, cancellationToken);
        Console.WriteLine($"Published {path} to {backend.Published.Location}: {config.Activations.Count} activation(s)" +
                          (config.Activations.Count == 0 ? "." : $" ({string.Join(", ", config.Activations.Select(a => a.Id))})."));
        Console.WriteLine("The Functions app and `pipeline run` on this account use it from their next tick.");
        return ExitCodes.Success;
    }

    /// <summary>
    /// A published config resolves relative paths against the reading process's working folder, not the file's: each
    /// path that resolves differently here is named, so nobody publishes a config that reads or writes somewhere else.
    /// </summary>
    internal static IEnumerable<string> RelativePathWarnings(PipelineConfig file, PipelineConfig published)
    {
        const string Fix = "Fix: use an absolute path (better for the Functions app: a blob URL for sources, S3 for destinations), " +
                           "or push and run from the config's folder.";
        string Warning(string field, string here, string there) =>
            $"{field} is relative: the published config resolves it against the working folder of the process that reads it " +
            $"(here: {here}), not against {file.FilePath}'s folder ({there}). {Fix}";
        foreach (var (name, source) in file.Sources)
        {
            if (published.Sources.TryGetValue(name, out var other) && other.Path != source.Path)
                yield return Warning($"$.sources.{name}.path", other.Path, source.Path);
        }
        foreach (var (name, destination) in file.Destinations)
        {
            if (destination.Type == DestinationSpec.LocalType && published.Destinations.TryGetValue(name, out var other) && other.Location != destination.Location)
                yield return Warning($"$.destinations.{name}.path", other.Location, destination.Location);
        }
        if (file.Secrets.File is { } secrets && published.Secrets.File is { } otherSecrets && otherSecrets != secrets)
            yield return Warning("$.secrets.file", otherSecrets, secrets);
    }

    private static async Task<int> ShowAsync(CancellationToken cancellationToken)
    {
        var backend = RequireStorage("config show");
        // stdout is the config alone, so it can be saved, edited and pushed again.
        backend.Announce(Console.Error);
        await backend.CheckReachableAsync(cancellationToken);
        var blob = backend.Storage!.CreateBlobServiceClient().GetBlobContainerClient(PublishedConfig.ContainerName).GetBlobClient(PublishedConfig.BlobName);
        try
        {
            var content = (await blob.DownloadContentAsync(cancellationToken)).Value;
            Console.Error.WriteLine($"{backend.Published.Location}, published {content.Details.LastModified.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC:");
            Console.Out.Write(content.Content.ToString());
            return ExitCodes.Success;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new UsageException($"No config is published at {backend.Published.Location}. Fix: publish one with `pipeline config push --config pipeline.json`.");
        }
    }
}
