using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Pipeline.Engine.Formatting;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Scheduling;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Configuration;

/// <summary>
/// Loads pipeline.json and validates it in one pass, collecting every problem with its JSON path
/// and a fix, so a user fixes the whole file at once instead of one error per attempt.
/// </summary>
public static partial class ConfigLoader
{
    public const string DefaultFileName = "pipeline.json";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex IdPattern();

    public static PipelineConfig Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ConfigException(full, [new ConfigProblem("$", $"The file {full} does not exist.", "Create it with `pipeline sample --out DIR`, or pass --config FILE.")]);
        string text;
        try { text = File.ReadAllText(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(full, [new ConfigProblem("$", $"Cannot read {full}: {e.Message}", "Check the file's permissions.")]);
        }
        return Parse(text, full);
    }

    public static PipelineConfig Parse(string json, string filePath)
    {
        var problems = new List<ConfigProblem>();
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ConfigException(filePath, [new ConfigProblem("$", $"Not valid JSON at line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}: {FirstSentence(e.Message)}", "Correct the JSON syntax there (a missing comma, quote or bracket).")]);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigException(filePath, [new ConfigProblem("$", "The top level must be an object.", "Start the file with { and end it with }.")]);
            var baseDir = Path.GetDirectoryName(filePath)!;
            var root = new JsonSection(doc.RootElement, "$", problems);
            _ = root.String("$schema");
            var statePath = Resolve(baseDir, root.Object("state")?.Let(s => { var p = s.String("path"); s.RejectUnknown(); return p; }) ?? ".pipeline/state.db");
            var stagingPath = Resolve(baseDir, root.Object("staging")?.Let(s => { var p = s.String("path"); s.RejectUnknown(); return p; }) ?? ".pipeline/staging");
            var tuning = ReadTuning(root.Object("tuning"));
            var watchdog = ReadWatchdog(root.Object("watchdog"));
            var secrets = ReadSecrets(root.Object("secrets"), baseDir);
            var sources = ReadSources(root.Object("sources", required: true), baseDir);
            var destinations = ReadDestinations(root.Object("destinations", required: true), baseDir);
            var activations = new List<SegmentActivation>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (itemPath, element) in root.Array("activations", required: true))
            {
                if (element.ValueKind != JsonValueKind.Object)
                {
                    problems.Add(new ConfigProblem(itemPath, "must be an object.", "Write each activation as { \"id\": ..., ... }."));
                    continue;
                }
                var a = ReadActivation(root.Child(element, itemPath), sources, destinations, tuning);
                if (a is null) continue;
                if (!seen.Add(a.Id))
                    problems.Add(new ConfigProblem(itemPath + ".id", $"\"{a.Id}\" is used by another activation.", "Give every activation a unique id: run ids and file names derive from it."));
                else activations.Add(a);
            }
            root.RejectUnknown();
            if (problems.Count > 0) throw new ConfigException(filePath, problems);
            return new PipelineConfig
            {
                FilePath = filePath,
                StatePath = statePath,
                StagingPath = stagingPath,
                Sources = sources,
                Destinations = destinations,
                Activations = activations,
                Secrets = secrets,
                Watchdog = watchdog,
            };
        }
    }

    private static TuningSpec ReadTuning(JsonSection? s)
    {
        var t = new TuningSpec();
        if (s is null) return t;
        t = t with
        {
            ChunkSize = s.Size("chunkSize", 64 * ByteSize.KiB, 1 * ByteSize.GiB) ?? t.ChunkSize,
            Parallelism = s.Int("parallelism", 0, 256) ?? t.Parallelism,
            PartSize = s.Size("partSize", FileNameDefaults.MinPartSize, FileNameDefaults.MaxPartSize) ?? t.PartSize,
        };
        var level = s.String("compressionLevel");
        if (level is not null)
        {
            if (Enum.TryParse<System.IO.Compression.CompressionLevel>(level, true, out var l)) t = t with { CompressionLevel = l };
            else s.Problem("compressionLevel", $"\"{level}\" is not a compression level.", "Use \"fastest\", \"optimal\" or \"smallestSize\".");
        }
        s.RejectUnknown();
        return t;
    }

    private static SecretsSpec ReadSecrets(JsonSection? s, string baseDir)
    {
        if (s is null) return new SecretsSpec();
        var file = s.String("file");
        var vault = s.String("keyVaultUri");
        if (vault is not null && (!Uri.TryCreate(vault, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps))
        {
            s.Problem("keyVaultUri", $"\"{vault}\" is not an https URL.", "Use the vault's URI, e.g. \"https://my-vault.vault.azure.net/\".");
            vault = null;
        }
        s.RejectUnknown();
        return new SecretsSpec { File = file is null ? null : Resolve(baseDir, file), KeyVaultUri = vault };
    }

    private static Dictionary<string, SourceSpec> ReadSources(JsonSection? section, string baseDir)
    {
        var result = new Dictionary<string, SourceSpec>(StringComparer.Ordinal);
        if (section is null) return result;
        foreach (var (name, s) in section.ObjectEntries())
        {
            var path = s.String("path", required: true, fix: "Set \"path\" to the snapshot file or folder (CSV, CSV.gz or Parquet), or a blob URL.");
            // A URL (a blob, or a prefix of blobs) is kept as written; only paths are relative to the config file.
            var url = path is not null && SourceLocation.IsUrl(path);
            if (url && SourceLocation.UrlProblem(path!) is { } problem)
                s.Problem("path", problem, "Write https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH (a blob, or a folder of blobs), without a query or SAS token.");
            var spec = new SourceSpec { Path = path is null ? "" : url ? path : Resolve(baseDir, path) };
            spec = spec with
            {
                Format = s.Enum<SourceFormat>("format") ?? spec.Format,
                IdColumn = s.String("idColumn") ?? spec.IdColumn,
                SegmentsColumn = s.String("segmentsColumn") ?? spec.SegmentsColumn,
                UpdatedAtColumn = s.String("updatedAtColumn") ?? spec.UpdatedAtColumn,
                SegmentsSeparator = SingleChar(s, "segmentsSeparator") ?? spec.SegmentsSeparator,
                Delimiter = SingleChar(s, "delimiter") ?? spec.Delimiter,
                MaxFieldSize = s.Size("maxFieldSize", SourceSpec.MinMaxFieldSize, SourceSpec.MaxMaxFieldSize) ?? spec.MaxFieldSize,
            };
            s.RejectUnknown();
            result[name] = spec;
        }
        return result;
    }

    private static char? SingleChar(JsonSection s, string name)
    {
        var v = s.String(name);
        if (v is null) return null;
        // Rows are split on single bytes, so the character must be ASCII.
        if (v.Length == 1 && v[0] is not ('"' or '\r' or '\n') && char.IsAscii(v[0])) return v[0];
        s.Problem(name, $"must be exactly one ASCII character (not a quote or line break), not \"{v}\".", $"Use a single character such as \";\" or \"\\t\".");
        return null;
    }

    private static Dictionary<string, DestinationSpec> ReadDestinations(JsonSection? section, string baseDir)
    {
        var result = new Dictionary<string, DestinationSpec>(StringComparer.Ordinal);
        if (section is null) return result;
        foreach (var (name, s) in section.ObjectEntries())
        {
            var type = s.String("type", required: true, fix: "Set \"type\": \"local\" or \"s3\".");
            if (type == DestinationSpec.S3Type)
            {
                if (S3Config.Read(s, name) is { } s3) result[name] = s3;
                s.RejectUnknown();
                continue;
            }
            if (type is not null && type != DestinationSpec.LocalType)
            {
                s.Problem("type", $"\"{type}\" is not a supported destination type.", "Use \"local\" (a folder on this machine) or \"s3\" (an S3 bucket).");
                continue;
            }
            var path = s.String("path", required: true, fix: "Set \"path\" to the output folder.");
            s.RejectUnknown();
            if (type is null || path is null) continue;
            result[name] = new DestinationSpec { Name = name, Type = type, Location = Resolve(baseDir, path) };
        }
        return result;
    }

    private static SegmentActivation? ReadActivation(JsonSection s, Dictionary<string, SourceSpec> sources,
        Dictionary<string, DestinationSpec> destinations, TuningSpec tuning)
    {
        var id = s.String("id", required: true, fix: "Give the activation an id such as \"vip-daily\".");
        if (id is not null && !IdPattern().IsMatch(id))
        {
            s.Problem("id", $"\"{id}\" is not a valid id.", "Use letters, digits, '.', '_' and '-' (up to 128), starting with a letter or digit.");
            id = null;
        }
        var enabled = s.Bool("enabled") ?? true;
        var sourceName = s.String("source", required: true, fix: $"Name one of the sources: {string.Join(", ", sources.Keys)}.");
        SourceSpec? source = null;
        if (sourceName is not null && !sources.TryGetValue(sourceName, out source))
            s.Problem("source", $"\"{sourceName}\" is not defined under $.sources.", $"Use one of: {string.Join(", ", sources.Keys)}, or add it to $.sources.");
        var segment = s.String("segment", required: true, fix: "Set \"segment\" to the segment id whose members to export.");
        if (segment is not null && source is not null && segment.Contains(source.SegmentsSeparator, StringComparison.Ordinal))
            s.Problem("segment", $"\"{segment}\" contains the segments separator '{source.SegmentsSeparator}'.", "Use a single segment id.");
        var fields = ReadFields(s);
        var destName = s.String("destination", required: true, fix: $"Name one of the destinations: {string.Join(", ", destinations.Keys)}.");
        DestinationSpec? dest = null;
        if (destName is not null && !destinations.TryGetValue(destName, out dest))
            s.Problem("destination", $"\"{destName}\" is not defined under $.destinations.", $"Use one of: {string.Join(", ", destinations.Keys)}, or add it to $.destinations.");
        var prefix = s.String("prefix") ?? "";
        if (prefix.Length > 0)
        {
            if (FileNameTemplate.TryParse(prefix.TrimEnd('/') + "/{index}", out var prefixError) is null)
                s.Problem("prefix", $"\"{prefix}\" {prefixError?.Replace("{index}", "", StringComparison.Ordinal)}.", "Use a relative prefix such as \"exports/vip/\".");
            else if (!prefix.EndsWith('/')) prefix += "/";
        }

        var output = new FormatSpec();
        output = output with
        {
            Format = s.Enum<OutputFormat>("format") ?? output.Format,
            Compression = s.Enum<OutputCompression>("compression") ?? output.Compression,
            Header = s.Bool("header") ?? output.Header,
            FormulaProtection = s.Bool("formulaProtection") ?? output.FormulaProtection,
        };
        var lineEnding = s.String("lineEnding");
        if (lineEnding is not null)
        {
            if (lineEnding.Equals("lf", StringComparison.OrdinalIgnoreCase)) output = output with { LineEnding = "\n" };
            else if (lineEnding.Equals("crlf", StringComparison.OrdinalIgnoreCase)) output = output with { LineEnding = "\r\n" };
            else s.Problem("lineEnding", $"\"{lineEnding}\" is not a line ending.", "Use \"lf\" (default) or \"crlf\".");
        }

        var fileName = s.String("fileName") ?? FileNameDefaults.Template;
        if (FileNameTemplate.TryParse(fileName, out var templateError) is null)
            s.Problem("fileName", $"\"{fileName}\" {templateError}.", "Use tokens {activation}, {segment}, {runTime:yyyyMMdd}, {index:3}, {ext} in a relative name.");

        var maxFileSize = s.Size("maxFileSize", FileNameDefaults.MinPartSize, FileNameDefaults.MaxObjectSize) ?? FileNameDefaults.DefaultMaxFileSize;
        var mode = s.Enum<ExportMode>("mode") ?? ExportMode.Full;
        var onMalformed = s.Enum<MalformedRowPolicy>("onMalformedRow") ?? MalformedRowPolicy.Fail;
        var maxSkippedRows = s.Int("maxSkippedRows", 0, int.MaxValue) ?? ExportSpec.DefaultMaxSkippedRows;
        var maxSkippedFraction = s.Number("maxSkippedFraction", 0, 1) ?? ExportSpec.DefaultMaxSkippedFraction;
        var schedule = ReadSchedule(s);
        var retry = ReadRetry(s.Object("retry"));
        s.RejectUnknown();

        if (id is null || source is null || segment is null || fields is null || dest is null || schedule is null) return null;
        var spec = new ExportSpec
        {
            ActivationId = id,
            Source = source,
            SegmentId = segment,
            Fields = fields,
            Output = output,
            Destination = dest with { Prefix = dest.Prefix + prefix },
            FileName = fileName,
            MaxFileSize = maxFileSize,
            Mode = mode,
            OnMalformedRow = onMalformed,
            MaxSkippedRows = maxSkippedRows,
            MaxSkippedFraction = maxSkippedFraction,
            Tuning = tuning,
        };
        return new SegmentActivation(id, enabled, spec, schedule) { Retry = retry };
    }

    private static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(10), MaxBackoff = TimeSpan.FromDays(1);

    private static RetryPolicy ReadRetry(JsonSection? s)
    {
        if (s is null) return RetryPolicy.Default;
        var attempts = s.Int("attempts", 0, RetryPolicy.MaxAttempts) ?? RetryPolicy.Default.Attempts;
        var backoff = Duration(s, "backoff", MinBackoff, MaxBackoff) ?? RetryPolicy.Default.Backoff;
        s.RejectUnknown();
        return new RetryPolicy(attempts, backoff);
    }

    private static ExportWatchdogOptions ReadWatchdog(JsonSection? s)
    {
        var options = new ExportWatchdogOptions();
        if (s is null) return options;
        options = options with { StalledAfter = Duration(s, "stalledAfter", ExportWatchdogOptions.MinStalledAfter, TimeSpan.FromDays(1)) ?? options.StalledAfter };
        s.RejectUnknown();
        return options;
    }

    /// <summary>A duration such as "90s", "10m", "2h" or "1d", within [min, max].</summary>
    private static TimeSpan? Duration(JsonSection s, string name, TimeSpan min, TimeSpan max)
    {
        var text = s.String(name);
        if (text is null) return null;
        var m = Regex.Match(text.Trim(), @"^(\d{1,6})\s*(s|m|h|d)$", RegexOptions.IgnoreCase);
        TimeSpan? value = m.Success
            ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * (char.ToLowerInvariant(m.Groups[2].Value[0]) switch
            {
                's' => TimeSpan.FromSeconds(1),
                'm' => TimeSpan.FromMinutes(1),
                'h' => TimeSpan.FromHours(1),
                _ => TimeSpan.FromDays(1),
            })
            : null;
        if (value is null)
            s.Problem(name, $"\"{text}\" is not a duration.", "Write a number and a unit: \"30s\", \"10m\", \"2h\" or \"1d\".");
        else if (value < min || value > max)
            s.Problem(name, $"\"{text}\" is outside {Describe(min)} to {Describe(max)}.", $"Choose a duration between {Describe(min)} and {Describe(max)}.");
        else return value;
        return null;
    }

    private static string Describe(TimeSpan t) =>
        t.TotalDays >= 1 && t.TotalDays % 1 == 0 ? $"{t.TotalDays:0}d" : t.TotalHours >= 1 && t.TotalHours % 1 == 0 ? $"{t.TotalHours:0}h"
        : t.TotalMinutes >= 1 && t.TotalMinutes % 1 == 0 ? $"{t.TotalMinutes:0}m" : $"{t.TotalSeconds:0}s";

    private static List<OutputField>? ReadFields(JsonSection s)
    {
        var fields = new List<OutputField>();
        var ok = true;
        foreach (var (path, e) in s.Array("fields", required: true))
        {
            if (e.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(e.GetString()))
            {
                fields.Add(new OutputField(e.GetString()!, e.GetString()!));
                continue;
            }
            if (e.ValueKind == JsonValueKind.Object)
            {
                var f = s.Child(e, path);
                var source = f.String("source", required: true, fix: "Name the source column, e.g. \"source\": \"email\".");
                var header = f.String("header") ?? source;
                f.RejectUnknown();
                if (source is not null) { fields.Add(new OutputField(source, header!)); continue; }
                ok = false;
                continue;
            }
            s.Child(e, path).Problem("", $"must be a column name or {{\"source\": ..., \"header\": ...}}, not {JsonSection.Describe(e)}.", "Write \"email\" or {\"source\": \"email\", \"header\": \"Email\"}.");
            ok = false;
        }
        if (ok && fields.Count == 0 && s.Has("fields")) s.Problem("fields", "is empty.", "List at least one column to export.");
        var dup = fields.GroupBy(f => f.Header, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) { s.Problem("fields", $"the header \"{dup.Key}\" appears twice.", "Rename one with {\"source\": ..., \"header\": ...}."); ok = false; }
        return ok && fields.Count > 0 ? fields : null;
    }

    private static ExportSchedule? ReadSchedule(JsonSection activation)
    {
        var s = activation.Object("schedule", required: true);
        if (s is null) return null;
        var zoneId = s.String("timeZone") ?? "UTC";
        TimeZoneInfo? zone = null;
        try { zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId); }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            s.Problem("timeZone", $"\"{zoneId}\" is not a known time zone.", "Use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\".");
        }
        DateTimeOffset? startAt = null;
        var startText = s.String("startAt");
        if (startText is not null)
        {
            if (TryParseMoment(startText, zone ?? TimeZoneInfo.Utc, out var t)) startAt = t;
            else s.Problem("startAt", $"\"{startText}\" is not a date and time.", "Use ISO 8601, e.g. \"2026-11-01T00:00:00Z\" or \"2026-11-01T02:00\" (in timeZone).");
        }

        string[] kinds = ["cron", "daily", "every", "weekly", "once"];
        var given = kinds.Where(s.Has).ToList();
        if (given.Count != 1)
        {
            s.Problem(given.Count == 0 ? "cron" : given[1], given.Count == 0 ? "no schedule kind is given." : $"has both \"{given[0]}\" and \"{given[1]}\".",
                "Give exactly one of \"cron\": \"0 2 * * *\", \"daily\": \"02:00\", \"every\": \"6h\", \"weekly\": \"monday 02:00\", \"once\": \"2026-12-01T02:00\".");
            s.RejectUnknown();
            return null;
        }
        var kind = given[0];
        var value = s.String(kind);
        s.RejectUnknown();
        if (value is null) return null;
        // Check the expression even when the time zone is wrong, so both problems are reported at once.
        zone ??= TimeZoneInfo.Utc;
        var zoneOk = !s.Has("timeZone") || TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out _);
        try
        {
            switch (kind)
            {
                case "cron":
                    var schedule = ExportSchedule.FromCron(value, zone, startAt);
                    return zoneOk ? schedule : null;
                case "daily" or "every" or "weekly" or "once" when !zoneOk && IsValidPreset(kind, value):
                    return null;
                case "daily" when SchedulePresets.TryDaily(value, out var cron, out var d):
                    return ExportSchedule.FromCron(cron, zone, startAt, $"{d} ({zone.Id})");
                case "every" when SchedulePresets.TryEvery(value, out var cron, out var d):
                    return ExportSchedule.FromCron(cron, zone, startAt, $"{d} ({zone.Id})");
                case "weekly" when SchedulePresets.TryWeekly(value, out var cron, out var d):
                    return ExportSchedule.FromCron(cron, zone, startAt, $"{d} ({zone.Id})");
                case "once" when TryParseMoment(value, zone, out var at):
                    return ExportSchedule.FromOnce(at, zone);
            }
        }
        catch (Cronos.CronFormatException e)
        {
            s.Problem(kind, $"\"{value}\" is not a valid cron expression: {CronReason(e.Message)}", "Use five fields: minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\".");
            return null;
        }
        var fix = kind switch
        {
            "daily" => "Write a time of day as HH:mm, e.g. \"02:00\".",
            "every" => $"Use one of {string.Join(", ", SchedulePresets.AllowedHourIntervals.Select(h => $"\"{h}h\""))}.",
            "weekly" => "Write a day and time, e.g. \"monday 02:00\".",
            _ => "Write an ISO 8601 date and time, e.g. \"2026-12-01T02:00\".",
        };
        s.Problem(kind, $"\"{value}\" is not understood.", fix);
        return null;
    }

    /// <summary>Cronos reports a missing field as the character '\0': say so in words, and print no control characters.</summary>
    private static string CronReason(string message) =>
        new string(message.Replace("The given cron expression has an invalid format. ", "", StringComparison.Ordinal)
            .Replace("Unexpected character '\0'", "the field is missing", StringComparison.Ordinal)
            .Where(c => !char.IsControl(c)).ToArray());

    private static bool IsValidPreset(string kind, string value) => kind switch
    {
        "daily" => SchedulePresets.TryDaily(value, out _, out _),
        "every" => SchedulePresets.TryEvery(value, out _, out _),
        "weekly" => SchedulePresets.TryWeekly(value, out _, out _),
        _ => TryParseMoment(value, TimeZoneInfo.Utc, out _),
    };

    /// <summary>ISO 8601; without an offset the time is read in the schedule's time zone.</summary>
    public static bool TryParseMoment(string text, TimeZoneInfo zone, out DateTimeOffset moment)
    {
        moment = default;
        var hasOffset = text.EndsWith('Z') || Regex.IsMatch(text, @"[+-]\d\d:?\d\d$");
        if (hasOffset)
            return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out moment);
        if (!DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var local)) return false;
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (zone.IsInvalidTime(local)) local = local.AddHours(1); // a time inside a DST gap means the moment the clock jumps
        moment = new DateTimeOffset(local, zone.GetUtcOffset(local));
        return true;
    }

    private static string Resolve(string baseDir, string path) =>
        Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(baseDir, path));

    private static string FirstSentence(string message)
    {
        var i = message.IndexOf(" Path:", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message;
    }

    private static TResult Let<T, TResult>(this T value, Func<T, TResult> f) => f(value);
}
