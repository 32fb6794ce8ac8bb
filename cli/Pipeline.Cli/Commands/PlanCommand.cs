using System.CommandLine;
using System.IO.Compression;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Sources;

namespace Pipeline.Cli.Commands;

/// <summary>
/// `pipeline plan ACTIVATION`: a dry run. Builds the first chunk in memory to measure how many rows the
/// segment keeps and how well they compress, then extrapolates the chunks, files and parts of a full run.
/// Writes nothing.
/// </summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var activation = new Argument<string>("activation") { Description = "The activation id." };
        var command = new Command("plan", "Dry run: the chunks, files and parts an export would produce, with estimated sizes.") { activation, RunCommand.ConfigOption };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var config = ConfigLoader.Load(parse.GetValue(RunCommand.ConfigOption)!);
            var id = parse.GetValue(activation)!;
            var a = config.FindActivation(id) ?? throw new UsageException($"No activation \"{id}\" in {config.FilePath}; it has: {string.Join(", ", config.Activations.Select(x => x.Id))}.");
            var spec = a.Spec;
            var now = TimeProvider.System.GetUtcNow();
            Console.WriteLine($"Activation {a.Id}: segment {spec.SegmentId} -> {spec.Destination.Display} " +
                              $"({spec.Output.Format.ToString().ToLowerInvariant()}, {spec.Output.Compression.ToString().ToLowerInvariant()}, {spec.Mode.ToString().ToLowerInvariant()})");
            Console.WriteLine($"Schedule: {a.Schedule}; next slot {a.Schedule.NextSlot(now):yyyy-MM-dd HH:mm} UTC");

            var files = SourceCatalog.ListFiles(spec.Source);
            Console.WriteLine($"Source: {files.Count} file(s), {CliContext.Size(files.Sum(f => f.Length))}");
            var sample = await SampleAsync(files[0], spec, cancellationToken);
            double rawPerFileByte = sample.FileBytes > 0 ? (double)sample.RawBytes / sample.FileBytes : 1;
            double keptPerRaw = sample.RawBytes > 0 ? (double)sample.RowsWritten / sample.RawBytes : 0;
            double rowsPerRaw = sample.RawBytes > 0 ? (double)sample.RowsRead / sample.RawBytes : 0;
            double outPerRaw = sample.RawBytes > 0 ? (double)sample.OutputBytes / sample.RawBytes : 0;
            long totalChunks = 0, totalRows = 0, totalKept = 0, totalOut = 0;
            foreach (var f in files)
            {
                var raw = (long)(f.Length * rawPerFileByte);
                var chunks = f.Format == SourceFormat.Parquet ? sample.ChunksInFile : Math.Max(1, (raw + spec.Tuning.ChunkSize - 1) / spec.Tuning.ChunkSize);
                totalChunks += chunks;
                totalRows += (long)(raw * rowsPerRaw);
                totalKept += (long)(raw * keptPerRaw);
                totalOut += (long)(raw * outPerRaw);
                Console.WriteLine($"  {Path.GetFileName(f.Path)}  {CliContext.Size(f.Length)}  ~{CliContext.Size(raw)} raw  ~{CliContext.Count(chunks)} chunk(s)");
            }
            Console.WriteLine($"Sampled the first chunk: {CliContext.Count(sample.RowsRead)} rows read, {CliContext.Count(sample.RowsWritten)} kept " +
                              $"({(sample.RowsRead > 0 ? 100.0 * sample.RowsWritten / sample.RowsRead : 0):0.0}%), {CliContext.Size(sample.RawBytes)} raw -> {CliContext.Size(sample.OutputBytes)} output");
            Console.WriteLine($"Estimate: ~{CliContext.Count(totalRows)} rows read, ~{CliContext.Count(totalKept)} exported, ~{CliContext.Size(totalOut)} in {CliContext.Count(totalChunks)} chunk(s)");
            var fileCount = Math.Max(1, (totalOut + spec.MaxFileSize - 1) / spec.MaxFileSize);
            var template = FileNameTemplate.Parse(spec.FileName);
            var runId = RunIds.ForSlot(a.Id, now);
            for (var i = 1; i <= Math.Min(fileCount, 20); i++)
            {
                var size = Math.Min(spec.MaxFileSize, totalOut - (i - 1) * spec.MaxFileSize);
                var partSize = ExportStages.ChoosePartSize(size, spec.Tuning.PartSize);
                var parts = Math.Max(1, (size + partSize - 1) / partSize);
                Console.WriteLine($"  file {spec.Destination.Prefix}{template.Render(a.Id, spec.SegmentId, runId, now, i, spec.Output.Extension)}  ~{CliContext.Size(size)}  {CliContext.Count(parts)} part(s) of {CliContext.Size(partSize)}");
            }
            if (fileCount > 20) Console.WriteLine($"  ... {CliContext.Count(fileCount - 20)} more file(s)");
            return ExitCodes.Success;
        }));
        return command;
    }

    private sealed record Sample(long RowsRead, long RowsWritten, long RawBytes, long FileBytes, long OutputBytes, long ChunksInFile);

    private static async Task<Sample> SampleAsync(SourceFile file, ExportSpec spec, CancellationToken cancellationToken)
    {
        using var reader = await SourceReaders.OpenAsync(file, spec, cancellationToken);
        var binding = ColumnBinding.Create(reader.Columns, spec, file.Path);
        var selection = new RowSelection(spec.SegmentId, spec.Source.SegmentsSeparator, null, null, incremental: false);
        using var rows = new DelimitedRowWriter(spec.Output);
        var writer = new ChunkWriter(rows, selection, binding, MalformedRowPolicy.Skip, file.Path);
        using var output = new MemoryStream();
        long raw = 0, chunks = 0;
        await foreach (var chunk in reader.ReadChunksAsync(seq => { chunks = seq + 1; return seq > 0; }, cancellationToken))
        {
            using (chunk)
            {
                await chunk.LoadAsync(binding, cancellationToken);
                Stream sink = spec.Output.Compression == OutputCompression.Gzip ? new GZipStream(output, spec.Tuning.CompressionLevel, leaveOpen: true) : output;
                rows.Reset(sink);
                chunk.Write(writer);
                rows.Flush();
                if (sink != output) await sink.DisposeAsync();
                raw = chunk.SourceBytes;
            }
        }
        var fileBytes = reader is CsvSliceReader csv ? csv.FileBytesRead : file.Length / Math.Max(1, chunks);
        if (reader is not CsvSliceReader) raw = fileBytes; // Parquet: estimate per row group
        return new Sample(writer.RowsRead, writer.RowsWritten, raw, fileBytes, output.Length, chunks);
    }
}
