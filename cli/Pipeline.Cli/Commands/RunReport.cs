using Pipeline.Engine.Building;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Cli.Commands;

/// <summary>Prints what a finished run produced: its files, rows, bytes, time, or why it failed.</summary>
internal static class RunReport
{
    public static async Task<int> PrintAsync(IRunStore store, ExportRun run, TimeSpan elapsed, ExportProgress progress, CancellationToken cancellationToken)
    {
        if (run.Status != RunStatus.Succeeded)
        {
            Console.Error.WriteLine($"FAILED {run.ActivationId} (run {run.RunId}): {run.Error ?? "the run did not finish; rerun to resume"}");
            return ExitCodes.ExportFailed;
        }
        var assembly = await store.GetDocumentAsync<AssemblyPlan>(run.RunId, ExportStages.Documents.Assembly, cancellationToken);
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
                          (assembly?.RowsSkipped > 0 ? $", {CliContext.Count(assembly.RowsSkipped)} malformed rows skipped (first: {assembly.FirstSkipped})" : "") +
                          $", {CliContext.Size(bytes)} in {elapsed.TotalSeconds:0.00} s ({CliContext.Count((long)((assembly?.RowsRead ?? 0) / seconds))} rows/s)");
        if (progress.ChunksReused(run.RunId) is > 0 and var reused)
            Console.WriteLine($"  resumed: {CliContext.Count(reused)} chunk(s) recorded by an earlier attempt were reused, not rebuilt");
        return ExitCodes.Success;
    }
}
