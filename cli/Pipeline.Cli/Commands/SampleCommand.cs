using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Pipeline.Cli.Samples;
using Pipeline.Engine.Configuration;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline sample`: a synthetic snapshot and a ready pipeline.json, so the whole product runs with nothing else.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var profiles = new Option<long>("--profiles") { Description = "Number of profiles.", Required = true };
        profiles.Validators.Add(r => { if (r.GetValue(profiles) is < 1 or > 2_000_000_000) r.AddError("--profiles must be between 1 and 2,000,000,000."); });
        var segments = new Option<int>("--segments") { Description = "Number of segments (S1..SK).", DefaultValueFactory = _ => 20 };
        segments.Validators.Add(r => { if (r.GetValue(segments) is < 1 or > 10_000) r.AddError("--segments must be between 1 and 10,000."); });
        var output = new Option<string>("--out") { Description = "Folder to write profiles.csv.gz (or .parquet) and pipeline.json into.", Required = true };
        var format = new Option<string>("--format") { Description = "csv (profiles.csv.gz) or parquet (profiles.parquet).", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "parquet");

        var command = new Command("sample", "Write a synthetic profile snapshot and a sample pipeline.json.") { profiles, segments, output, format };
        command.SetAction((parse, cancellationToken) => CliContext.GuardAsync(async () =>
        {
            var dir = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(dir);
            var n = parse.GetValue(profiles);
            var k = parse.GetValue(segments);
            var parquet = parse.GetValue(format) == "parquet";
            var file = parquet ? "profiles.parquet" : "profiles.csv.gz";
            var path = Path.Combine(dir, file);
            var started = TimeProvider.System.GetTimestamp();
            if (parquet) await SampleProfiles.WriteParquetAsync(path, n, k, cancellationToken);
            else await SampleProfiles.WriteCsvGzAsync(path, n, k, cancellationToken);
            var elapsed = TimeProvider.System.GetElapsedTime(started);
            Console.WriteLine($"Wrote {path}: {CliContext.Count(n)} profiles, {k} segments, {CliContext.Size(new FileInfo(path).Length)} in {elapsed.TotalSeconds:0.0} s");
            var config = Path.Combine(dir, ConfigLoader.DefaultFileName);
            await File.WriteAllTextAsync(config, SampleConfig(file, TimeProvider.System.GetUtcNow()), cancellationToken);
            Console.WriteLine($"Wrote {config}");
            Console.WriteLine($"Next: {CliContext.SelfCommand()} run --config {CliContext.Quote(Path.GetRelativePath(Environment.CurrentDirectory, config))} --once");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Two activations that are due at once (their start is a week back), into ./out next to the config.</summary>
    internal static string SampleConfig(string sourceFile, DateTimeOffset now)
    {
        var startAt = now.UtcDateTime.Date.AddDays(-7).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var json = new JsonObject
        {
            ["state"] = new JsonObject { ["path"] = ".pipeline/state.db" },
            ["staging"] = new JsonObject { ["path"] = ".pipeline/staging" },
            ["sources"] = new JsonObject { ["profiles"] = new JsonObject { ["path"] = sourceFile } },
            ["destinations"] = new JsonObject { ["local"] = new JsonObject { ["type"] = "local", ["path"] = "out" } },
            ["activations"] = new JsonArray( // the constructor, not an initializer: see AccessPolicies
                new JsonObject
                {
                    ["id"] = "s1-daily",
                    ["source"] = "profiles",
                    ["segment"] = "S1",
                    ["fields"] = new JsonArray("profileId", "email", new JsonObject { ["source"] = "lastName", ["header"] = "last_name" }, "city", "country"),
                    ["destination"] = "local",
                    ["prefix"] = "s1-daily/",
                    ["format"] = "csv",
                    ["compression"] = "gzip",
                    ["maxFileSize"] = "1TB",
                    ["mode"] = "full",
                    ["schedule"] = new JsonObject { ["daily"] = "02:00", ["timeZone"] = "Europe/Berlin", ["startAt"] = startAt },
                },
                new JsonObject
                {
                    ["id"] = "s2-changes-6h",
                    ["source"] = "profiles",
                    ["segment"] = "S2",
                    ["fields"] = new JsonArray("profileId", "email", "phone", "updatedAt"),
                    ["destination"] = "local",
                    ["prefix"] = "s2-changes/",
                    ["format"] = "tsv",
                    ["mode"] = "incremental",
                    ["fileName"] = "{activation}/{runTime:yyyyMMdd'T'HHmmss'Z'}/part-{index:4}{ext}",
                    ["schedule"] = new JsonObject { ["every"] = "6h", ["timeZone"] = "UTC", ["startAt"] = startAt },
                }),
        };
        // Relaxed escaping: the file is read by people, and a default encoder writes ' as \u0027.
        return json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }
}
