using System.CommandLine;
using System.Diagnostics;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;
using Pipeline.Local;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline run`: the scheduler. Exports every due activation; keeps running unless --once.</summary>
internal static class RunCommand
{
    public static readonly Option<string> ConfigOption = new("--config", "-c")
    {
        Description = "The pipeline.json to use.",
        DefaultValueFactory = _ => ConfigLoader.DefaultFileName,
    };

    public static Command Create()
    {
        var once = new Option<bool>("--once") { Description = "Run what is due now, then exit." };
        var command = new Command("run", "Run the scheduled exports that are due (and keep scheduling unless --once).") { ConfigOption, once };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var configPath = parse.GetValue(ConfigOption)!;
            var config = ConfigLoader.Load(configPath);
            using var loggers = CliContext.Loggers(parse);
            using var adapters = new Adapters(config.Secrets, loggers);
            var pipeline = await LocalPipeline.OpenAsync(config.StatePath, config.StagingPath, TimeProvider.System, loggers,
                config.Activations.Count > 0 ? config.Activations[0].Spec.Tuning.Parallelism : 0, adapters.Destinations, cancellationToken);
            var sweep = new StaleUploadSweep(adapters, TimeProvider.System);
            var failed = false;
            while (true)
            {
                await sweep.RunIfDueAsync(config, cancellationToken);
                var stopwatch = Stopwatch.StartNew();
                IReadOnlyList<ExportRun> runs;
                await using (new ProgressDisplay(pipeline.Progress))
                {
                    runs = await pipeline.RunDueAsync(config.Activations, cancellationToken);
                }
                foreach (var run in runs)
                {
                    // Each run's own duration: runs of one tick share the workers, so the tick's time would mislead.
                    var took = run.CompletedAt is { } done ? done - run.CreatedAt : stopwatch.Elapsed;
                    failed |= await RunReport.PrintAsync(pipeline.Store, run, took, pipeline.Progress, cancellationToken) != ExitCodes.Success;
                    await RunSummary.WriteAsync(config, run, cancellationToken);
                }
                var now = TimeProvider.System.GetUtcNow();
                var next = config.Activations.Where(a => a.Enabled).Select(a => (a.Id, a.Schedule, Slot: a.Schedule.NextSlot(now))).Where(x => x.Slot is not null).OrderBy(x => x.Slot).FirstOrDefault();
                if (runs.Count == 0) Console.WriteLine("Nothing is due.");
                if (parse.GetValue(once))
                {
                    if (next.Slot is { } n) Console.WriteLine($"Next: {next.Id} at {next.Schedule.FormatSlot(n)}.");
                    return failed ? ExitCodes.ExportFailed : ExitCodes.Success;
                }
                // Wake at the next slot, but at least once a minute so edits to pipeline.json are picked up.
                var wait = next.Slot is { } slot ? slot - now : TimeSpan.FromMinutes(1);
                wait = TimeSpan.FromTicks(Math.Clamp(wait.Ticks, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromMinutes(1).Ticks));
                Console.WriteLine($"Waiting {wait.TotalSeconds:0} s{(next.Slot is { } s2 ? $" (next: {next.Id} at {next.Schedule.FormatSlot(s2)})" : "")}; Ctrl+C stops.");
                await Task.Delay(wait, TimeProvider.System, cancellationToken);
                config = ConfigLoader.Load(configPath);
            }
        }));
        return command;
    }
}

/// <summary>A JSON summary per run next to the state database (.pipeline/runs/RUNID.json), for people and scripts.</summary>
internal static class RunSummary
{
    public static async Task WriteAsync(PipelineConfig config, ExportRun run, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(Path.GetDirectoryName(config.StatePath)!, "runs");
        Directory.CreateDirectory(folder);
        var summary = new RunSummaryDocument(
            run.RunId,
            run.ActivationId,
            run.Status.ToString().ToLowerInvariant(),
            run.Slot,
            run.CreatedAt,
            run.CompletedAt,
            run.Error,
            run.ManifestKey is null ? null
                : run.Spec.Destination.Type == DestinationSpec.S3Type ? $"s3://{run.Spec.Destination.Location}/{run.ManifestKey}"
                : Path.Combine(run.Spec.Destination.Location, run.ManifestKey));
        await File.WriteAllTextAsync(Path.Combine(folder, run.RunId + ".json"),
            System.Text.Json.JsonSerializer.Serialize(summary, CliJson.Default.RunSummaryDocument) + "\n", cancellationToken);
    }
}

internal sealed record RunSummaryDocument(string RunId, string ActivationId, string Status, DateTimeOffset Slot, DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt, string? Error, string? Manifest);

/// <summary>The CLI's own JSON, source-generated like the engine's (see EngineJson).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web, WriteIndented = true,
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RunSummaryDocument))]
internal sealed partial class CliJson : System.Text.Json.Serialization.JsonSerializerContext;
