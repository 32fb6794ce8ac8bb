using Pipeline.Engine.Building;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Cli.Commands;

/// <summary>Prints what a finished run produced: its files, rows, bytes, time, or why it failed.</summary>
internal static class RunReport
{
    public static Task<int> PrintAsync(IRunStore store, ExportRun run, TimeSpan elapsed, ExportProgress progress, CancellationToken cancellationToken) =>
        PrintAsync(store, run, elapsed, progress, null, cancellationToken);

    public static async Task<int> PrintAsync(IRunStore store, ExportRun run, TimeSpan elapsed, ExportProgress progress, RunReportHints? hints,
        CancellationToken cancellationToken)
    {
        if (!run.IsFinished && hints is { InProgressElsewhere: true })
        {
            // Not a failure: the process holding the run delivers it and reports the outcome.
            var ago = hints.Now - (run.LastProgressAt ?? run.CreatedAt);
            Console.WriteLine($"Run {run.RunId} ({run.ActivationId}) is in progress in another process (last progress {Ago(ago)} ago).");
            return ExitCodes.Success;
        }
        if (run.Status != RunStatus.Succeeded)
        {
            var resume = hints is null ? "rerun to resume" : $"`pipeline run{hints.ConfigArgument}` resumes it";
            Console.Error.WriteLine($"FAILED {run.ActivationId} (run {run.RunId}): {run.Error ?? "the run did not finish; " + resume}");
            if (run.Status == RunStatus.Failed && hints is not null)
            {
                var line = $"  Retry now: pipeline retry {run.RunId}{hints.ConfigArgument}";
                if (hints.AutomaticRetry is { } policy && policy.Allows(run.Attempt) && run.CompletedAt is { } failedAt)
                    line += $" (or `pipeline run` retries it from {failedAt + policy.DelayAfter(run.Attempt):yyyy-MM-dd HH:mm} UTC, attempt {run.Attempt + 1} of {policy.Attempts + 1})";
                Console.Error.WriteLine(line);
            }
            return ExitCodes.ExportFailed;
        }
        var assembly = await store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, cancellationToken);
        var destination = run.Spec.Destination;
        string Where(string key) => destination.Type == Engine.Configuration.DestinationSpec.S3Type ? $"s3://{destination.Location}/{key}" : Path.Combine(destination.Location, key);
        Console.WriteLine($"OK {run.ActivationId} (run {run.RunId})");
        foreach (var f in assembly?.Files ?? [])
            Console.WriteLine($"  {Where(f.Key)}  {CliContext.Count(f.Rows)} rows  {CliContext.Size(f.Length)}");
        Console.WriteLine($"  {Where(run.ManifestKey!)}  (manifest)");
        var rows = assembly?.Files.Sum(f => f.Rows) ?? 0;
        var bytes = assembly?.Files.Sum(f => f.Length) ?? 0;
        var seconds = Math.Max(elapsed.TotalSeconds, 0.001);
        Console.WriteLine($"  {CliContext.Count(rows)} rows exported of {CliContext.Count(assembly?.RowsRead ?? 0)} read" +
                          (assembly?.RowsSkipped > 0 ? $", {CliContext.Count(assembly.RowsSkipped)} malformed rows skipped{(assembly.LinesSkipped > assembly.RowsSkipped ? $" covering {CliContext.Count(assembly.LinesSkipped)} source lines" : "")} (first: {assembly.FirstSkipped})" : "") +
                          $", {CliContext.Size(bytes)} in {elapsed.TotalSeconds:0.00} s ({CliContext.Count((long)((assembly?.RowsRead ?? 0) / seconds))} rows/s)");
        if (Engine.Manifests.RunManifest.EmptyAudienceWarning(run.Spec, rows, assembly?.RowsRead ?? 0) is { } empty)
            Console.Error.WriteLine($"warning: {run.ActivationId}: {empty}");
        if (progress.ChunksReused(run.RunId) is > 0 and var reused)
            Console.WriteLine($"  resumed: {CliContext.Count(reused)} chunk(s) recorded by an earlier attempt were reused, not rebuilt");
        return ExitCodes.Success;
    }

    private static string Ago(TimeSpan t) => t.TotalSeconds < 90 ? $"{Math.Max(0, t.TotalSeconds):0} s" : t.TotalMinutes < 90 ? $"{t.TotalMinutes:0} min" : $"{t.TotalHours:0.#} h";
}

/// <summary>
/// What `run` and `retry` know beyond the run: the config to name in commands, whether another process drives the run,
/// and the automatic retry that is still to come (null when none will: retries exhausted, or a later slot took over).
/// </summary>
/// <param name="ConfigPath">The config file to name in commands; null for the published config (Azure backend).</param>
internal sealed record RunReportHints(string? ConfigPath, bool InProgressElsewhere, Pipeline.Engine.Configuration.RetryPolicy? AutomaticRetry, DateTimeOffset Now)
{
    /// <summary>" --config FILE", or nothing for the published config.</summary>
    public string ConfigArgument => ConfigPath is null ? "" : " --config " + ConfigPath;
}
