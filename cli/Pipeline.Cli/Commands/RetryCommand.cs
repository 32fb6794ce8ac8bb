using System.CommandLine;
using System.Diagnostics;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline retry RUN_ID`: re-runs a failed run now, as its next attempt (same slot, same files, same window).</summary>
internal static class RetryCommand
{
    public static Command Create()
    {
        var runIdArgument = new Argument<string>("RUN_ID") { Description = "The failed run (its id is in the FAILED line and in .pipeline/runs/)." };
        var command = new Command("retry", "Re-run a failed run now: same slot, file names and incremental window; the activation as configured now.")
        {
            runIdArgument, RunCommand.ConfigOption,
        };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var runId = parse.GetValue(runIdArgument)!;
            var backend = Backend.FromEnvironment();
            backend.Announce();
            var (config, configPath) = await backend.LoadConfigAsync(parse, RunCommand.ConfigOption, cancellationToken);
            using var loggers = CliContext.Loggers(parse);
            using var adapters = new PipelineAdapters(config.Secrets, loggers);
            using var pipeline = await RunCommand.OpenPipelineAsync(backend, config, adapters, loggers, cancellationToken);
            var run = await pipeline.Store.GetRunAsync(runId, cancellationToken)
                      ?? throw new UsageException(backend.IsAzure
                          ? $"There is no run {runId} in the run state of {backend.Storage!.Setting}. Run ids are in the FAILED lines of `pipeline run` and in `pipeline runs`."
                          : $"There is no run {runId} in {config.StatePath}. " +
                            $"Run ids are in the FAILED lines of `pipeline run` and in {Path.Combine(Path.GetDirectoryName(config.StatePath)!, "runs")}/.");
            var activation = config.FindActivation(run.ActivationId)
                             ?? throw new UsageException($"Run {runId} belongs to activation {run.ActivationId}, which is no longer in {config.FilePath}. " +
                                                         "Add it back to retry the run.");
            if (run.Status == RunStatus.Succeeded)
            {
                Console.WriteLine($"Run {runId} ({run.ActivationId}) already succeeded; nothing to retry.");
                if (!backend.IsAzure) await RunSummary.WriteAsync(config, run, cancellationToken);
                return ExitCodes.Success;
            }
            var stopwatch = Stopwatch.StartNew();
            ExportRun result;
            await using (new ProgressDisplay(pipeline.Progress))
            {
                result = await pipeline.RetryAsync(run, activation.Spec, cancellationToken);
            }
            var hints = await RunCommand.HintsAsync(config, configPath, pipeline, result, cancellationToken);
            var code = await RunReport.PrintAsync(pipeline.Store, result, stopwatch.Elapsed, pipeline.Progress, hints, cancellationToken);
            if (!hints.InProgressElsewhere && !backend.IsAzure) await RunSummary.WriteAsync(config, result, cancellationToken);
            return code;
        }));
        return command;
    }
}
