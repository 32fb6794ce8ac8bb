using System.CommandLine;
using System.Diagnostics;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Sources;
using Pipeline.Local;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline export`: one ad-hoc export now, with the same engine as scheduled runs.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var source = new Option<string>("--source") { Description = "Snapshot file or folder, or a blob URL (a blob or a folder of blobs): CSV, CSV.gz or Parquet, with a header.", Required = true };
        var segment = new Option<string>("--segment") { Description = "Segment id whose members to export.", Required = true };
        var fields = new Option<string>("--fields") { Description = "Output columns in order, comma-separated (any source column). Rename with source:Header.", Required = true };
        var to = new Option<string>("--to") { Description = "Destination: a local folder, or s3://bucket/prefix.", Required = true };
        var endpoint = new Option<string>("--endpoint") { Description = "S3: a custom endpoint URL (S3-compatible store, emulator); default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then AWS." };
        var region = new Option<string>("--region") { Description = "S3: the bucket's region (default AWS_REGION, then the profile's, then us-east-1)." };
        var pathStyle = new Option<bool>("--path-style") { Description = "S3: path-style addressing (automatic for IP-literal and localhost endpoints)." };
        var compatibility = new Option<bool>("--compatibility") { Description = "S3: for S3-compatible stores: no aws-chunked encoding, checksums only where required." };
        var format = new Option<string>("--format") { Description = "csv or tsv (tab-delimited .txt).", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "tsv");
        var compression = new Option<string>("--compression") { Description = "gzip or none.", DefaultValueFactory = _ => "gzip" };
        compression.AcceptOnlyFromAmong("gzip", "none");
        var maxFileSize = new Option<string>("--max-file-size") { Description = "Split files at this size, e.g. 512MiB or 1TB (default 1TB)." };
        var idColumn = new Option<string>("--id-column") { Description = "Column with the profile id (rows without one are malformed).", DefaultValueFactory = _ => "profileId" };
        var segmentsColumn = new Option<string>("--segments-column") { Description = "Column listing each profile's segments (';'-separated in CSV, spaces around ids ignored; a list in Parquet).", DefaultValueFactory = _ => "segments" };
        var fileName = new Option<string>("--file-name") { Description = "File name template, e.g. \"{segment}_{runTime:yyyyMMdd}_{index:3}\"." };
        var onMalformed = new Option<string>("--on-malformed-row") { Description = "fail (default) or skip (counted in the manifest).", DefaultValueFactory = _ => "fail" };
        onMalformed.AcceptOnlyFromAmong("fail", "skip");
        var formulaProtection = new Option<bool>("--formula-protection") { Description = "Prefix cells starting with = + - @ with ' so spreadsheets don't run them." };
        var parallelism = new Option<int>("--parallelism") { Description = "Chunks built at once (default: one per core)." };
        var chunkSize = new Option<string>("--chunk-size") { Description = "Source bytes per chunk (default 8MiB)." };

        var command = new Command("export", "Export the members of one segment now.")
        {
            source, segment, fields, to, endpoint, region, pathStyle, compatibility, format, compression, maxFileSize, idColumn, segmentsColumn, fileName, onMalformed, formulaProtection, parallelism, chunkSize,
        };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var backend = Backend.FromEnvironment();
            backend.Announce();
            var tuning = new TuningSpec { Parallelism = parse.GetValue(parallelism) };
            if (parse.GetValue(chunkSize) is { } cs) tuning = tuning with { ChunkSize = ParseSize(cs, "--chunk-size", 64 * ByteSize.KiB, ByteSize.GiB) };
            var destination = ParseDestination(parse.GetValue(to)!, parse.GetValue(endpoint), parse.GetValue(region),
                parse.GetValue(pathStyle) ? true : null, parse.GetValue(compatibility));
            var template = parse.GetValue(fileName) ?? "{segment}_{runTime:yyyyMMdd'T'HHmmss'Z'}_{index:3}";
            if (FileNameTemplate.TryParse(template, out var templateError) is null) throw new UsageException($"--file-name \"{template}\" {templateError}.");
            var segmentId = parse.GetValue(segment)!.Trim();
            var spec = new ExportSpec
            {
                ActivationId = "export-" + new string(segmentId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray()),
                Source = new SourceSpec { Path = ParseSource(parse.GetValue(source)!), IdColumn = parse.GetValue(idColumn)!, SegmentsColumn = parse.GetValue(segmentsColumn)! },
                SegmentId = segmentId,
                Fields = ParseFields(parse.GetValue(fields)!),
                Output = new FormatSpec
                {
                    Format = parse.GetValue(format) == "tsv" ? OutputFormat.Tsv : OutputFormat.Csv,
                    Compression = parse.GetValue(compression) == "none" ? OutputCompression.None : OutputCompression.Gzip,
                    FormulaProtection = parse.GetValue(formulaProtection),
                },
                Destination = destination,
                FileName = template,
                MaxFileSize = parse.GetValue(maxFileSize) is { } m ? ParseSize(m, "--max-file-size", FileNameDefaults.MinPartSize, FileNameDefaults.MaxObjectSize) : FileNameDefaults.DefaultMaxFileSize,
                OnMalformedRow = parse.GetValue(onMalformed) == "skip" ? MalformedRowPolicy.Skip : MalformedRowPolicy.Fail,
                Tuning = tuning,
            };
            var sources = PipelineAdapters.CreateSources();
            _ = await SourceCheck.CheckAsync(sources, spec, "--source", "--fields (and --id-column, --segments-column)", cancellationToken);
            return backend.IsAzure ? await RunOnAzureAsync(parse, backend, spec, cancellationToken) : await RunAsync(parse, spec, sources, cancellationToken);
        }));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, ExportSpec spec, ISourceStore sources, CancellationToken cancellationToken)
    {
        var now = TimeProvider.System.GetUtcNow();
        var runId = RunIds.ForAdHoc(spec, now);
        // An ad-hoc export keeps its state and staging in a private work folder that is removed afterwards.
        var work = Path.Combine(Path.GetTempPath(), "pipeline-export", runId);
        using var loggers = CliContext.Loggers(parse);
        var stopwatch = Stopwatch.StartNew();
        try
        {
            using var adapters = new PipelineAdapters(new SecretsSpec(), loggers);
            var pipeline = await LocalPipeline.OpenAsync(Path.Combine(work, "state.db"), Path.Combine(work, "staging"), TimeProvider.System, loggers,
                new LocalPipelineOptions { Parallelism = spec.Tuning.Parallelism, Destinations = adapters.Destinations, Sources = sources }, cancellationToken);
            var run = await pipeline.Scheduler.NewRunAsync(runId, spec, now, cancellationToken);
            ExportRun result;
            await using (new ProgressDisplay(pipeline.Progress))
            {
                result = await pipeline.ExportNowAsync(run, cancellationToken);
            }
            stopwatch.Stop();
            return await RunReport.PrintAsync(pipeline.Store, result, stopwatch.Elapsed, pipeline.Progress, cancellationToken);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { if (Directory.Exists(work)) Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>A local path (made absolute) or a blob URL (kept as given, checked for shape; never printed with its query).</summary>
    internal static string ParseSource(string text)
    {
        if (!SourceLocation.IsUrl(text)) return Path.GetFullPath(text);
        if (SourceLocation.UrlProblem(text) is { } problem) throw new UsageException($"--source: {problem}");
        return text;
    }

    /// <summary>
    /// On the Azure backend the export is a run like any other: state in the account's tables, staging in its blobs,
    /// stages through its queues, served here (and by any other process serving them: see the README).
    /// </summary>
    private static async Task<int> RunOnAzureAsync(ParseResult parse, Backend backend, ExportSpec spec, CancellationToken cancellationToken)
    {
        var now = TimeProvider.System.GetUtcNow();
        using var loggers = CliContext.Loggers(parse);
        var stopwatch = Stopwatch.StartNew();
        using var adapters = new PipelineAdapters(new SecretsSpec(), loggers);
        using var pipeline = await backend.OpenAsync("", "", spec.Tuning.Parallelism, new Engine.Runs.ExportWatchdogOptions(), adapters, loggers, cancellationToken);
        var run = await pipeline.Scheduler.NewRunAsync(RunIds.ForAdHoc(spec, now), spec, now, cancellationToken);
        ExportRun result;
        await using (new ProgressDisplay(pipeline.Progress))
        {
            result = await pipeline.ExportNowAsync(run, cancellationToken);
        }
        stopwatch.Stop();
        return await RunReport.PrintAsync(pipeline.Store, result, stopwatch.Elapsed, pipeline.Progress, cancellationToken);
    }

    internal static DestinationSpec ParseDestination(string to, string? endpoint = null, string? region = null, bool? pathStyle = null, bool compatibility = false)
    {
        if (to.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = to["s3://".Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var bucket = slash < 0 ? rest : rest[..slash];
            var prefix = slash < 0 ? "" : rest[(slash + 1)..];
            if (S3Config.BucketProblem(bucket) is { } problem) throw new UsageException($"--to {to}: bucket \"{bucket}\" {problem}.");
            if (prefix.Length > 0 && !prefix.EndsWith('/')) prefix += "/";
            if (prefix.Split('/').Any(p => p is "." or "..")) throw new UsageException($"--to {to}: the prefix must not contain '.' or '..' segments.");
            if (endpoint is not null && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
                throw new UsageException($"--endpoint {endpoint} is not an http(s) URL.");
            return new DestinationSpec
            {
                Name = "cli", Type = DestinationSpec.S3Type, Location = bucket, Prefix = prefix,
                // Ad-hoc exports use the standard AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...
                S3 = new S3DestinationOptions { Endpoint = endpoint, Region = region, PathStyle = pathStyle, Compatibility = compatibility },
            };
        }
        if (to.Contains("://", StringComparison.Ordinal)) throw new UsageException($"--to {to}: give a local folder path or s3://bucket/prefix.");
        if (endpoint is not null || region is not null || pathStyle is not null || compatibility)
            throw new UsageException("--endpoint, --region, --path-style and --compatibility apply to s3:// destinations only.");
        return new DestinationSpec { Name = "cli", Type = DestinationSpec.LocalType, Location = Path.GetFullPath(to) };
    }

    internal static List<OutputField> ParseFields(string text)
    {
        var fields = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(f => f.Split(':', 2, StringSplitOptions.TrimEntries) is [var s, var h] ? new OutputField(s, h) : new OutputField(f, f))
            .ToList();
        if (fields.Count == 0) throw new UsageException("--fields lists no columns; give e.g. --fields profileId,email.");
        var dup = fields.GroupBy(f => f.Header, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new UsageException($"--fields names the output column \"{dup.Key}\" twice.");
        return fields;
    }

    internal static long ParseSize(string text, string option, long min, long max)
    {
        if (!ByteSize.TryParse(text, out var bytes)) throw new UsageException($"{option} \"{text}\" is not a size; write e.g. 512MiB, 10GB or 1TB.");
        if (bytes < min || bytes > max) throw new UsageException($"{option} {ByteSize.Format(bytes)} is outside {ByteSize.Format(min)} to {ByteSize.Format(max)} (S3 needs parts of at least 5 MiB, at most 10,000 per file).");
        return bytes;
    }
}
