using System.CommandLine;
using System.Diagnostics;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;

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
        var activationOption = new Option<string?>("--activation") { Description = "With --slot: the activation whose slot to run now." };
        var slotOption = new Option<string?>("--slot")
        {
            Description = "Run this slot of --activation now, then exit (ISO 8601; without an offset, in the schedule's time zone).",
        };
        var command = new Command("run", "Run the scheduled exports that are due (and keep scheduling unless --once).") { ConfigOption, once, activationOption, slotOption };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var activationId = parse.GetValue(activationOption);
            var slotText = parse.GetValue(slotOption);
            if ((activationId is null) != (slotText is null))
                throw new UsageException("--activation and --slot go together: `pipeline run --activation ID --slot 2026-11-23T02:00Z`.");
            var backend = Backend.FromEnvironment();
            backend.Announce();
            // On Azure without --config: the published config (configPath null), reloaded every tick.
            var (config, configPath) = await backend.LoadConfigAsync(parse, ConfigOption, cancellationToken);
            using var loggers = CliContext.Loggers(parse);
            using var adapters = new PipelineAdapters(config.Secrets, loggers);
            using var pipeline = await OpenPipelineAsync(backend, config, adapters, loggers, cancellationToken);
            // A run that finished while no summary could be written (a kill right after success) gets it now. Azure keeps
            // run state in its tables only (`pipeline runs`): no summary files.
            if (!backend.IsAzure) await RunSummary.WriteMissingAsync(config, pipeline.Store, cancellationToken);
            if (activationId is not null) return await RunSlotAsync(backend, config, configPath, pipeline, activationId, slotText!, cancellationToken);

            var sweep = new StaleUploadSweep(adapters, TimeProvider.System);
            if (parse.GetValue(once))
            {
                var failed = await TickAsync(backend, config, configPath, pipeline, sweep, cancellationToken);
                if (NextSlot(config) is var (activation, slot)) Console.WriteLine($"Next: {activation.Id} at {activation.Schedule.FormatSlot(slot)}.");
                return failed ? ExitCodes.ExportFailed : ExitCodes.Success;
            }
            await SchedulerLoop.RunAsync(async (tick, ct) =>
            {
                // Edits to pipeline.json (or a newly published config) take effect at the next tick.
                if (tick > 0) config = await backend.ReloadAsync(config, configPath, ct);
                await TickAsync(backend, config, configPath, pipeline, sweep, ct);
                var next = NextSlot(config);
                // Wake at the next slot, but at least once a minute so edits to pipeline.json are picked up.
                var wait = next is var (_, slot) ? slot - TimeProvider.System.GetUtcNow() : TimeSpan.FromMinutes(1);
                wait = TimeSpan.FromTicks(Math.Clamp(wait.Ticks, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromMinutes(1).Ticks));
                Console.WriteLine($"Waiting {wait.TotalSeconds:0} s{(next is var (activation, at) ? $" (next: {activation.Id} at {activation.Schedule.FormatSlot(at)})" : "")}; Ctrl+C stops.");
                return wait;
            }, e => backend.IsAzure && StorageOutage.IsStorageOutage(e), TimeProvider.System, Console.Error, cancellationToken);
            return ExitCodes.Success; // not reached: the loop ends by Ctrl+C (a cancellation) or a failure
        }));
        return command;
    }

    internal static Task<IExportPipeline> OpenPipelineAsync(Backend backend, PipelineConfig config, PipelineAdapters adapters,
        Microsoft.Extensions.Logging.ILoggerFactory loggers, CancellationToken cancellationToken) =>
        backend.OpenAsync(config.StatePath, config.StagingPath, config.Activations.Count > 0 ? config.Activations[0].Spec.Tuning.Parallelism : 0,
            config.Watchdog, adapters, loggers, cancellationToken);

    /// <summary>
    /// One tick of the scheduler: the stale-upload sweep when due, every due run driven to its end and reported.
    /// Returns whether a run failed.
    /// </summary>
    private static async Task<bool> TickAsync(Backend backend, PipelineConfig config,
        string? configPath, IExportPipeline pipeline, StaleUploadSweep sweep, CancellationToken cancellationToken)
    {
        var failed = false;
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
            var hints = await HintsAsync(config, configPath, pipeline, run, cancellationToken);
            failed |= await RunReport.PrintAsync(pipeline.Store, run, took, pipeline.Progress, hints, cancellationToken) != ExitCodes.Success;
            if (!hints.InProgressElsewhere && !backend.IsAzure) await RunSummary.WriteAsync(config, run, cancellationToken);
        }
        if (!backend.IsAzure) await RunSummary.WriteMissingAsync(config, pipeline.Store, cancellationToken);
        if (runs.Count == 0) Console.WriteLine("Nothing is due.");
        return failed;
    }

    /// <summary>The enabled activation whose next slot comes first, and that slot; null when none has one.</summary>
    private static (SegmentActivation Activation, DateTimeOffset Slot)? NextSlot(PipelineConfig config)
    {
        var now = TimeProvider.System.GetUtcNow();
        return config.Activations.Where(a => a.Enabled)
            .Select(a => a.Schedule.NextSlot(now) is { } slot ? (a, slot) : ((SegmentActivation Activation, DateTimeOffset Slot)?)null)
            .Where(x => x is not null).OrderBy(x => x!.Value.Slot).FirstOrDefault();
    }

    /// <summary>What the report says beyond the run: the retry `run` will make by itself, if any (only the latest slot's run is retried).</summary>
    /// <param name="configPath">How commands the report prints name the config; null for the published one.</param>
    internal static async Task<RunReportHints> HintsAsync(PipelineConfig config, string? configPath, IExportPipeline pipeline, ExportRun run, CancellationToken cancellationToken)
    {
        var activation = config.FindActivation(run.ActivationId);
        var latest = activation is null ? null : await pipeline.Store.GetLastScheduledSlotAsync(activation.Id, cancellationToken);
        var automatic = activation is { Enabled: true } && latest == run.Slot ? activation.Retry : null;
        return new RunReportHints(configPath, pipeline.IsInProgressElsewhere(run.RunId), automatic, TimeProvider.System.GetUtcNow());
    }

    /// <summary>`run --activation ID --slot TIME`: one slot now, whatever the schedule's cursor says.</summary>
    private static async Task<int> RunSlotAsync(Backend backend, PipelineConfig config, string? configPath, IExportPipeline pipeline, string activationId, string slotText,
        CancellationToken cancellationToken)
    {
        var activation = CliContext.RequireActivation(config, activationId, $"--activation {activationId}");
        var schedule = activation.Schedule;
        if (!ConfigLoader.TryParseMoment(slotText, schedule.TimeZone, out var slot))
            throw new UsageException($"--slot {slotText} is not a date and time. Use ISO 8601, e.g. 2026-11-23T02:00Z (or 2026-11-23T02:00 in {schedule.TimeZone.Id}).");
        string Show(DateTimeOffset? t) => t is { } v ? $"{v.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}" : "none";
        if (!schedule.IsSlot(slot))
        {
            var (before, after) = schedule.SlotsAround(slot);
            throw new UsageException($"--slot {slotText} ({Show(slot)}) is not a slot of {activation.Id} ({schedule.Description}). " +
                                     $"Nearest slots: {Show(before)} before, {Show(after)} after.");
        }
        var now = TimeProvider.System.GetUtcNow();
        if (slot > now)
        {
            var (before, _) = schedule.SlotsAround(now);
            throw new UsageException($"--slot {Show(slot)} of {activation.Id} is in the future; it runs on schedule. The latest slot so far is {Show(before)}.");
        }
        var existing = await pipeline.Store.GetRunAsync(RunIds.ForSlot(activation.Id, slot.ToUniversalTime()), cancellationToken);
        if (existing is null && activation.Spec.Mode == ExportMode.Incremental
            && await pipeline.Store.GetWatermarkAsync(activation.Id, cancellationToken) is { } watermark && watermark >= slot)
        {
            throw new UsageException($"--slot {Show(slot)}: incremental activation {activation.Id} has already exported changes up to {Show(watermark)}, " +
                                     "so this slot's window is empty. Run a later slot, or the latest with `pipeline run`.");
        }
        var stopwatch = Stopwatch.StartNew();
        ExportRun run;
        await using (new ProgressDisplay(pipeline.Progress))
        {
            run = await pipeline.RunSlotAsync(activation, slot, cancellationToken);
        }
        var took = stopwatch.Elapsed;
        var hints = await HintsAsync(config, configPath, pipeline, run, cancellationToken);
        var code = await RunReport.PrintAsync(pipeline.Store, run, took, pipeline.Progress, hints, cancellationToken);
        if (!hints.InProgressElsewhere && !backend.IsAzure) await RunSummary.WriteAsync(config, run, cancellationToken);
        return code;
    }
}

/// <summary>A JSON summary per run next to the state database (.pipeline/runs/RUNID.json), for people and scripts.</summary>
internal static class RunSummary
{
    /// <summary>How many recent runs per activation are checked for a missing or outdated summary.</summary>
    private const int RecentRuns = 20;

    private static string Folder(PipelineConfig config) => Path.Combine(Path.GetDirectoryName(config.StatePath)!, "runs");

    /// <summary>
    /// Writes the summary of each recent finished run whose summary is missing or says another status (a kill between
    /// the run's end and its summary, or a run another process finished), from recorded state.
    /// </summary>
    public static async Task WriteMissingAsync(PipelineConfig config, Engine.Ports.IRunStore store, CancellationToken cancellationToken)
    {
        foreach (var activation in config.Activations)
        {
            foreach (var run in await store.ListRunsAsync(activation.Id, RecentRuns, cancellationToken))
            {
                if (!run.IsFinished) continue;
                var path = Path.Combine(Folder(config), run.RunId + ".json");
                if (File.Exists(path) && ReadStatus(path) == StatusOf(run)) continue;
                await WriteAsync(config, run, cancellationToken);
            }
        }
    }

    private static string StatusOf(ExportRun run) => run.Status.ToString().ToLowerInvariant();

    private static string? ReadStatus(string path)
    {
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize(File.ReadAllText(path), CliJson.Default.RunSummaryDocument)?.Status;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or UnauthorizedAccessException)
        {
            return null; // unreadable or half-written: write it again
        }
    }

    public static async Task WriteAsync(PipelineConfig config, ExportRun run, CancellationToken cancellationToken)
    {
        var folder = Folder(config);
        Directory.CreateDirectory(folder);
        var summary = new RunSummaryDocument(
            run.RunId,
            run.ActivationId,
            StatusOf(run),
            run.Slot,
            run.CreatedAt,
            run.CompletedAt,
            run.Error,
            run.ManifestKey is null ? null
                : run.Spec.Destination.Type == DestinationSpec.S3Type ? $"s3://{run.Spec.Destination.Location}/{run.ManifestKey}"
                : Path.Combine(run.Spec.Destination.Location, run.ManifestKey),
            run.Attempt);
        // Written aside and renamed, so a kill never leaves half a summary under the final name.
        var path = Path.Combine(folder, run.RunId + ".json");
        var temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        await File.WriteAllTextAsync(temp, System.Text.Json.JsonSerializer.Serialize(summary, CliJson.Default.RunSummaryDocument) + "\n", cancellationToken);
        File.Move(temp, path, overwrite: true);
    }
}

internal sealed record RunSummaryDocument(string RunId, string ActivationId, string Status, DateTimeOffset Slot, DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt, string? Error, string? Manifest, int Attempt);

/// <summary>The CLI's own JSON, source-generated like the engine's (see EngineJson).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web, WriteIndented = true,
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RunSummaryDocument))]
internal sealed partial class CliJson : System.Text.Json.Serialization.JsonSerializerContext;
