using System.CommandLine;
using System.IO.Compression;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Ports;
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
            var backend = Backend.FromEnvironment();
            backend.Announce();
            // On the Azure backend, the published config and the account's run state, like `run`.
            var (config, _) = await backend.LoadConfigAsync(parse, RunCommand.ConfigOption, cancellationToken);
            var id = parse.GetValue(activation)!;
            var a = CliContext.RequireActivation(config, id, $"activation \"{id}\"");
            var spec = a.Spec;
            var now = TimeProvider.System.GetUtcNow();
            Console.WriteLine($"Activation {a.Id}: segment {spec.SegmentId} -> {spec.Destination.Display} " +
                              $"({spec.Output.Format.ToString().ToLowerInvariant()}, {spec.Output.Compression.ToString().ToLowerInvariant()}, {spec.Mode.ToString().ToLowerInvariant()})");
            var (slot, when) = await PlannedSlotAsync(backend, config, a, now, cancellationToken);
            Console.WriteLine($"Schedule: {a.Schedule}; {ValidateCommand.NextRun(a.Schedule, now)}");
            Console.WriteLine($"Planning the run for slot {a.Schedule.FormatSlot(slot)} ({when})");

            var index = config.Activations.ToList().FindIndex(x => x.Id == a.Id);
            var sources = PipelineAdapters.CreateSources();
            var files = await SourceCheck.CheckAsync(sources, spec, $"{config.FilePath}: $.sources.{config.Sources.First(s => s.Value == spec.Source).Key}.path",
                $"{config.FilePath}: $.activations[{index}]", cancellationToken);
            Console.WriteLine($"Source: {files.Count} file(s), {CliContext.Size(files.Sum(f => f.Length))}");
            var sample = await SampleAsync(sources, files[0], spec, cancellationToken);
            double keptPerRaw = sample.RawBytes > 0 ? (double)sample.RowsWritten / sample.RawBytes : 0;
            double rowsPerRaw = sample.RawBytes > 0 ? (double)sample.RowsRead / sample.RawBytes : 0;
            double outPerRaw = sample.RawBytes > 0 ? (double)sample.OutputBytes / sample.RawBytes : 0;
            long totalChunks = 0, totalRows = 0, totalKept = 0, totalOut = 0;
            foreach (var f in files)
            {
                var raw = (long)(f.Length * sample.RawPerFileByte);
                var chunks = f.Format == SourceFormat.Parquet ? sample.ChunksInFile : Math.Max(1, (raw + spec.Tuning.ChunkSize - 1) / spec.Tuning.ChunkSize);
                totalChunks += chunks;
                totalRows += (long)(raw * rowsPerRaw);
                totalKept += (long)(raw * keptPerRaw);
                totalOut += (long)(raw * outPerRaw);
                Console.WriteLine($"  {SourceLocation.Name(f.Path)}  {CliContext.Size(f.Length)}  ~{CliContext.Size(raw)} raw  ~{CliContext.Count(chunks)} chunk(s)");
            }
            Console.WriteLine($"Sampled the first chunk: {CliContext.Count(sample.RowsRead)} rows read, {CliContext.Count(sample.RowsWritten)} kept " +
                              $"({(sample.RowsRead > 0 ? 100.0 * sample.RowsWritten / sample.RowsRead : 0):0.0}%), {CliContext.Size(sample.RawBytes)} raw -> {CliContext.Size(sample.OutputBytes)} output" +
                              (files[0].Gzip ? $"; the source decompresses {sample.RawPerFileByte:0.00}x" : ""));
            Console.WriteLine($"Estimate: ~{CliContext.Count(totalRows)} rows read, ~{CliContext.Count(totalKept)} exported, ~{CliContext.Size(totalOut)} in {CliContext.Count(totalChunks)} chunk(s)");
            var fileCount = Math.Max(1, (totalOut + spec.MaxFileSize - 1) / spec.MaxFileSize);
            var template = FileNameTemplate.Parse(spec.FileName);
            var runId = RunIds.ForSlot(a.Id, slot);
            var limits = spec.Destination.Type == DestinationSpec.S3Type ? Pipeline.S3.Delivery.S3Destination.Limits : Pipeline.Local.LocalFolderDestination.Limits;
            for (var i = 1; i <= Math.Min(fileCount, 20); i++)
            {
                var size = Math.Min(spec.MaxFileSize, totalOut - (i - 1) * spec.MaxFileSize);
                var partSize = limits.ChoosePartSize(size, spec.Tuning.PartSize);
                var parts = Math.Max(1, (size + partSize - 1) / partSize);
                Console.WriteLine($"  file {spec.Destination.Prefix}{template.Render(a.Id, spec.SegmentId, runId, slot, i, spec.Output.Extension)}  ~{CliContext.Size(size)}  {CliContext.Count(parts)} part(s) of {CliContext.Size(partSize)}");
            }
            if (fileCount > 20) Console.WriteLine($"  ... {CliContext.Count(fileCount - 20)} more file(s)");
            Console.WriteLine($"  manifest {RunManifest.KeyFor(new ExportRun { RunId = runId, ActivationId = a.Id, Slot = slot, Spec = spec, CreatedAt = now })}");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <param name="RawBytes">Source bytes (decompressed) of the sampled chunk; the rates are per these bytes.</param>
    /// <param name="RawPerFileByte">Source bytes per byte on disk: the gzip ratio of the file's start, 1 for plain CSV and Parquet.</param>
    private sealed record Sample(long RowsRead, long RowsWritten, long RawBytes, double RawPerFileByte, long OutputBytes, long ChunksInFile);

    /// <summary>The slot `run` would export next: the due slot not yet run (per the backend's run state, if there is any), else the next one.</summary>
    private static async Task<(DateTimeOffset Slot, string When)> PlannedSlotAsync(Backend backend, PipelineConfig config, SegmentActivation a,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        DateTimeOffset? last = null;
        var store = await backend.ReadRunStoreAsync(config, cancellationToken);
        try
        {
            if (store is not null) last = await store.GetLastScheduledSlotAsync(a.Id, cancellationToken);
        }
        catch (global::Azure.RequestFailedException e) when (e.Status == 404)
        {
            // Nothing has run on this account yet: its tables don't exist.
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
        if (a.Schedule.DueSlot(now, last) is { } due) return (due.ToUniversalTime(), "due now: the next `pipeline run` exports it");
        if (a.Schedule.NextSlot(now) is { } next) return (next.ToUniversalTime(), "the next slot");
        return (a.Schedule.Once!.Value.ToUniversalTime(), "its only slot, which will not run again");
    }

    private static async Task<Sample> SampleAsync(ISourceStore sources, SourceFile file, ExportSpec spec, CancellationToken cancellationToken)
    {
        using var reader = await SourceReaders.OpenAsync(sources, file, spec, cancellationToken);
        var binding = ColumnBinding.Create(reader.Columns, spec, file.Path);
        var selection = new RowSelection(spec.SegmentId, spec.Source.SegmentsSeparator, null, null, incremental: false);
        using var rows = new DelimitedRowWriter(spec.Output);
        var writer = new ChunkWriter(rows, selection, binding, MalformedRowPolicy.Skip, file.Path);
        using var output = new MemoryStream();
        long raw = 0, chunks = 0;
        var parquet = reader is not CsvSliceReader;
        // Parquet: every row group is counted (skipping is free) and the first one is built; CSV: only the first chunk is read.
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
            if (!parquet) break;
        }
        if (parquet) raw = file.Length / Math.Max(1, chunks); // estimate per row group
        var rawPerFileByte = file.Gzip ? await GzipRatioAsync(sources, file, cancellationToken) : 1.0;
        return new Sample(writer.RowsRead, writer.RowsWritten, raw, rawPerFileByte, output.Length, chunks);
    }

    /// <summary>Decompressed bytes per compressed byte over the file's first 8 MiB: how a compressed size becomes source bytes.</summary>
    private static async Task<double> GzipRatioAsync(ISourceStore sources, SourceFile file, CancellationToken cancellationToken)
    {
        var head = new byte[(int)Math.Min(file.Length, 8 * ByteSize.MiB)];
        // A ranged read: a blob source sends its first 8 MiB, not the whole file.
        var read = await sources.ReadAsync(file.Path, file.Version, 0, head, cancellationToken);
        if (read < head.Length) head = head[..read];
        long decompressed = 0;
        var buffer = new byte[1 << 16];
        try
        {
            await using var gzip = new GZipStream(new MemoryStream(head), CompressionMode.Decompress);
            int n;
            while ((n = await gzip.ReadAsync(buffer, cancellationToken)) > 0) decompressed += n;
        }
        catch (InvalidDataException)
        {
            // The head ends inside a deflate block: what came out so far is the measurement.
        }
        return head.Length > 0 && decompressed > 0 ? (double)decompressed / head.Length : 1.0;
    }
}
