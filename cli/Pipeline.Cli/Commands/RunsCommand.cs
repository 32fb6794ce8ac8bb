using System.CommandLine;
using System.Globalization;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline runs`: recent runs from the recorded state, newest first.</summary>
internal static class RunsCommand
{
    public static Command Create()
    {
        var activationOption = new Option<string?>("--activation") { Description = "Only this activation's runs." };
        var limitOption = new Option<int>("--limit") { Description = "At most this many runs.", DefaultValueFactory = _ => 20 };
        var command = new Command("runs", "List recent runs: status, slot, attempt, duration, rows, bytes and error, newest first.")
        {
            activationOption, limitOption, RunCommand.ConfigOption,
        };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var activationId = parse.GetValue(activationOption);
            var limit = parse.GetValue(limitOption);
            if (limit < 1) throw new UsageException($"--limit {limit.ToString(CultureInfo.InvariantCulture)}: give 1 or more.");
            var backend = Backend.FromEnvironment();
            backend.Announce();
            var (config, _) = await backend.LoadConfigAsync(parse, RunCommand.ConfigOption, cancellationToken);
            var activations = config.Activations;
            if (activationId is not null) activations = [CliContext.RequireActivation(config, activationId, $"--activation {activationId}")];
            // A pipeline that never ran has no state database; listing must not create one.
            if (await backend.ReadRunStoreAsync(config, cancellationToken) is not { } store)
            {
                Console.WriteLine($"No runs yet (no state at {config.StatePath}).");
                return ExitCodes.Success;
            }
            var runs = new List<(ExportRun Run, SegmentActivation Activation)>();
            try
            {
                foreach (var activation in activations)
                {
                    foreach (var run in await store.ListRunsAsync(activation.Id, limit, cancellationToken)) runs.Add((run, activation));
                }
            }
            catch (global::Azure.RequestFailedException e) when (e.Status == 404)
            {
                // No run has been recorded on this account yet: its tables don't exist.
            }
            var newest = runs.OrderByDescending(r => r.Run.CreatedAt).ThenByDescending(r => r.Run.Slot).Take(limit).ToList();
            if (newest.Count == 0)
            {
                Console.WriteLine(activationId is null ? "No runs yet." : $"No runs of {activationId} yet.");
                return ExitCodes.Success;
            }
            foreach (var (run, activation) in newest)
            {
                var assembly = await store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, cancellationToken);
                var took = run.CompletedAt is { } done ? $"{(done - run.CreatedAt).TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s" : "-";
                var rows = assembly is null ? "-" : CliContext.Count(assembly.Files.Sum(f => f.Rows));
                var bytes = assembly is null ? "-" : CliContext.Size(assembly.Files.Sum(f => f.Length));
                Console.WriteLine($"{run.Status.ToString().ToLowerInvariant(),-10} {run.ActivationId}  slot {activation.Schedule.FormatSlot(run.Slot)}  " +
                                  $"attempt {run.Attempt.ToString(CultureInfo.InvariantCulture)}  {took}  {rows} rows  {bytes}  run {run.RunId}" +
                                  (run.Error is null ? "" : $"\n           error: {run.Error}"));
            }
            return ExitCodes.Success;
        }));
        return command;
    }
}
