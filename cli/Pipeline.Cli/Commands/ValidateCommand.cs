using System.CommandLine;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Sources;
using Pipeline.S3.Probing;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline validate`: every problem in the config, with its JSON path and a fix; then each source and destination is checked.</summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var command = new Command("validate", "Check pipeline.json, its sources and destinations; report every problem with its JSON path and a fix.") { RunCommand.ConfigOption };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var config = ConfigLoader.Load(parse.GetValue(RunCommand.ConfigOption)!);
            var problems = new List<ConfigProblem>();
            var sourceColumns = new Dictionary<string, IReadOnlyList<string>>();
            var sources = PipelineAdapters.CreateSources();
            foreach (var (name, source) in config.Sources)
            {
                try
                {
                    var files = await SourceCatalog.ListFilesAsync(sources, source, cancellationToken);
                    sourceColumns[name] = await SourceReaders.ReadColumnsAsync(sources, files[0], source, cancellationToken);
                }
                catch (Exception e) when (e is SourceException or MalformedRowException)
                {
                    problems.Add(new ConfigProblem($"$.sources.{name}.path", e.Message,
                        SourceLocation.IsUrl(source.Path) ? "Point it at an existing blob or folder of blobs with a header row, readable by the pipeline's identity."
                            : "Point it at an existing snapshot file or folder with a header row."));
                }
            }
            for (var i = 0; i < config.Activations.Count; i++)
            {
                var spec = config.Activations[i].Spec;
                var source = config.Sources.First(s => s.Value == spec.Source).Key;
                if (!sourceColumns.TryGetValue(source, out var columns)) continue;
                try { _ = ColumnBinding.Create(columns, spec, spec.Source.Path); }
                catch (SourceException e)
                {
                    var field = spec.Fields.Select((f, j) => (f, j)).FirstOrDefault(x => !columns.Contains(x.f.Source));
                    var path = field.f is not null ? $"$.activations[{i}].fields[{field.j}]" : $"$.sources.{source}";
                    problems.Add(new ConfigProblem(path, e.Message, field.f is not null ? "Use one of the source's columns." : "Set idColumn/segmentsColumn/updatedAtColumn on the source to its real column names."));
                }
            }
            using var loggers = CliContext.Loggers(parse);
            using var adapters = new PipelineAdapters(config.Secrets, loggers);
            var probe = new S3DestinationProbe(adapters.S3);
            foreach (var (name, destination) in config.Destinations)
            {
                if (destination.Type == DestinationSpec.S3Type)
                {
                    // Real requests against the bucket: region, write + delete a probe object, multipart, sweep listing.
                    foreach (var finding in await probe.ProbeAsync(destination, cancellationToken))
                    {
                        if (finding.Status == ProbeStatus.Problem)
                            problems.Add(new ConfigProblem($"$.destinations.{name}", $"{finding.Check}: {finding.Message}", finding.Fix ?? "See `pipeline policy " + name + "`."));
                        else Console.WriteLine($"  {name}: [{finding.Status.ToString().ToLowerInvariant()}] {finding.Check}: {finding.Message}{(finding.Fix is null ? "" : Environment.NewLine + finding.Fix)}");
                    }
                    continue;
                }
                var error = ProbeFolder(destination.Location);
                if (error is not null) problems.Add(new ConfigProblem($"$.destinations.{name}.path", error, "Create the folder or choose one this user can write to."));
            }
            if (problems.Count > 0)
            {
                Console.Error.WriteLine($"{config.FilePath}: {problems.Count} problem(s):");
                foreach (var p in problems) Console.Error.WriteLine("  " + p);
                return ExitCodes.BadUsage;
            }
            Console.WriteLine($"{config.FilePath} is valid: {config.Sources.Count} source(s), {config.Destinations.Count} destination(s), {config.Activations.Count} activation(s).");
            var now = TimeProvider.System.GetUtcNow();
            for (var i = 0; i < config.Activations.Count; i++)
            {
                var a = config.Activations[i];
                Console.WriteLine($"  {a.Id}: segment {a.Spec.SegmentId}, {a.Schedule}{(a.Enabled ? "" : " (disabled)")}, {NextRun(a.Schedule, now)}");
                if (a.Schedule.IsExpiredOnce(now))
                    Console.Error.WriteLine($"warning: $.activations[{i}].schedule.once: {a.Schedule.FormatSlot(a.Schedule.Once!.Value)} is more than 24 hours in the past, " +
                                            "so `pipeline run` skips this activation. Fix: set a future time, or export now with `pipeline export`.");
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>When the activation runs next, in its zone and in UTC.</summary>
    internal static string NextRun(Engine.Scheduling.ExportSchedule schedule, DateTimeOffset now) =>
        schedule.NextSlot(now) is { } next ? $"next {schedule.FormatSlot(next)}"
        : schedule.Once is null ? "no further slot"
        : schedule.IsExpiredOnce(now) ? "in the past: never runs"
        : "due now (unless it already ran)";

    /// <summary>Writes and deletes a probe file: the only sure test that exports will be able to write.</summary>
    internal static string? ProbeFolder(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".pipeline-probe-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "probe");
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"The destination folder {folder} is not writable: {e.Message}";
        }
    }
}
