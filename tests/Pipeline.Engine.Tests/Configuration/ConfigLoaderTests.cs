using System.Text.Json.Nodes;
using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Tests.Configuration;

public class ConfigLoaderTests
{
    private const string ConfigPath = "/tmp/x/pipeline.json";

    // Written by `pipeline sample --profiles 10 --out /tmp/cfgsample`.
    private const string SampleConfig = """
        {
          "state": {
            "path": ".pipeline/state.db"
          },
          "staging": {
            "path": ".pipeline/staging"
          },
          "sources": {
            "profiles": {
              "path": "profiles.csv.gz"
            }
          },
          "destinations": {
            "local": {
              "type": "local",
              "path": "out"
            }
          },
          "activations": [
            {
              "id": "s1-daily",
              "source": "profiles",
              "segment": "S1",
              "fields": [
                "profileId",
                "email",
                {
                  "source": "lastName",
                  "header": "last_name"
                },
                "city",
                "country"
              ],
              "destination": "local",
              "prefix": "s1-daily/",
              "format": "csv",
              "compression": "gzip",
              "maxFileSize": "1TB",
              "mode": "full",
              "schedule": {
                "daily": "02:00",
                "timeZone": "Europe/Berlin",
                "startAt": "2026-11-16T00:00:00Z"
              }
            },
            {
              "id": "s2-changes-6h",
              "source": "profiles",
              "segment": "S2",
              "fields": [
                "profileId",
                "email",
                "phone",
                "updatedAt"
              ],
              "destination": "local",
              "prefix": "s2-changes/",
              "format": "tsv",
              "mode": "incremental",
              "fileName": "{activation}/{runTime:yyyy-MM-dd\u0027T\u0027HHmm\u0027Z\u0027}/part-{index:4}{ext}",
              "schedule": {
                "every": "6h",
                "timeZone": "UTC",
                "startAt": "2026-11-16T00:00:00Z"
              }
            }
          ]
        }
        """;

    /// <summary>The sample config with <paramref name="change"/> applied to its JSON tree.</summary>
    private static string Sample(Action<JsonNode> change)
    {
        var root = JsonNode.Parse(SampleConfig)!;
        change(root);
        return root.ToJsonString();
    }

    private static JsonNode Activation(JsonNode root, int index) => root["activations"]![index]!;

    private static JsonNode Schedule(JsonNode root, int index) => Activation(root, index)["schedule"]!;

    private static IReadOnlyList<ConfigProblem> Problems(string json)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(json, ConfigPath));
        Assert.That(e.File, Is.EqualTo(ConfigPath));
        return e.Problems;
    }

    private static ConfigProblem SingleProblem(string json)
    {
        var problems = Problems(json);
        Assert.That(problems, Has.Count.EqualTo(1), string.Join("\n", problems));
        return problems[0];
    }

    [Test]
    public void The_sample_config_loads_with_paths_resolved_against_its_folder()
    {
        var config = ConfigLoader.Parse(SampleConfig, ConfigPath);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(config.FilePath, Is.EqualTo(ConfigPath));
            Assert.That(config.StatePath, Is.EqualTo("/tmp/x/.pipeline/state.db"));
            Assert.That(config.StagingPath, Is.EqualTo("/tmp/x/.pipeline/staging"));
            Assert.That(config.Sources.Keys, Is.EqualTo(new[] { "profiles" }));
            Assert.That(config.Sources["profiles"].Path, Is.EqualTo("/tmp/x/profiles.csv.gz"));
            Assert.That(config.Destinations.Keys, Is.EqualTo(new[] { "local" }));
            Assert.That(config.Destinations["local"].Location, Is.EqualTo("/tmp/x/out"));
            Assert.That(config.Activations.Select(a => a.Id), Is.EqualTo(new[] { "s1-daily", "s2-changes-6h" }));
        }
    }

    [Test]
    public void The_first_sample_activation_is_a_daily_full_csv_export()
    {
        var a = ConfigLoader.Parse(SampleConfig, ConfigPath).FindActivation("s1-daily")!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(a.Enabled, Is.True);
            Assert.That(a.Spec.SegmentId, Is.EqualTo("S1"));
            Assert.That(a.Spec.Source.Path, Is.EqualTo("/tmp/x/profiles.csv.gz"));
            Assert.That(a.Spec.Fields, Is.EqualTo(new[]
            {
                new OutputField("profileId", "profileId"),
                new OutputField("email", "email"),
                new OutputField("lastName", "last_name"),
                new OutputField("city", "city"),
                new OutputField("country", "country"),
            }));
            Assert.That(a.Spec.Destination.Location, Is.EqualTo("/tmp/x/out"));
            Assert.That(a.Spec.Destination.Prefix, Is.EqualTo("s1-daily/"));
            Assert.That(a.Spec.Output.Format, Is.EqualTo(OutputFormat.Csv));
            Assert.That(a.Spec.Output.Compression, Is.EqualTo(OutputCompression.Gzip));
            Assert.That(a.Spec.MaxFileSize, Is.EqualTo(1_000_000_000_000L));
            Assert.That(a.Spec.Mode, Is.EqualTo(ExportMode.Full));
            Assert.That(a.Spec.FileName, Is.EqualTo(FileNameDefaults.Template));
            Assert.That(a.Spec.OnMalformedRow, Is.EqualTo(MalformedRowPolicy.Fail));
            Assert.That(a.Schedule.TimeZone.Id, Is.EqualTo("Europe/Berlin"));
            Assert.That(a.Schedule.StartAt, Is.EqualTo(new DateTimeOffset(2026, 11, 16, 0, 0, 0, TimeSpan.Zero)));
            Assert.That(a.Schedule.Description, Is.EqualTo("daily at 02:00 (Europe/Berlin)"));
        }
    }

    [Test]
    public void The_second_sample_activation_is_an_incremental_tsv_export_every_six_hours()
    {
        var a = ConfigLoader.Parse(SampleConfig, ConfigPath).FindActivation("s2-changes-6h")!;

        using (Assert.EnterMultipleScope())
        {
            Assert.That(a.Spec.Output.Format, Is.EqualTo(OutputFormat.Tsv));
            Assert.That(a.Spec.Output.Extension, Is.EqualTo(".txt.gz"));
            Assert.That(a.Spec.Mode, Is.EqualTo(ExportMode.Incremental));
            Assert.That(a.Spec.FileName, Is.EqualTo("{activation}/{runTime:yyyy-MM-dd'T'HHmm'Z'}/part-{index:4}{ext}"));
            Assert.That(a.Spec.MaxFileSize, Is.EqualTo(FileNameDefaults.DefaultMaxFileSize));
            Assert.That(a.Schedule.Description, Is.EqualTo("every 6 hours (UTC)"));
        }
    }

    [Test]
    public void Absolute_paths_are_kept_and_a_prefix_gets_a_trailing_slash()
    {
        var config = ConfigLoader.Parse(Sample(root =>
        {
            root["sources"]!["profiles"]!["path"] = "/data/snapshot";
            root["destinations"]!["local"]!["path"] = "/srv/out";
            Activation(root, 0)["prefix"] = "exports/vip";
        }), ConfigPath);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(config.Sources["profiles"].Path, Is.EqualTo("/data/snapshot"));
            Assert.That(config.Destinations["local"].Location, Is.EqualTo("/srv/out"));
            Assert.That(config.Activations[0].Spec.Destination.Prefix, Is.EqualTo("exports/vip/"));
        }
    }

    [TestCase("https://acme.blob.core.windows.net/snapshots/2026-11-23/profiles.parquet")]
    [TestCase("http://127.0.0.1:10000/devstoreaccount1/snapshots/daily")]
    public void A_blob_url_source_is_kept_as_written_not_taken_for_a_relative_path(string url)
    {
        var config = ConfigLoader.Parse(Sample(root => root["sources"]!["profiles"]!["path"] = url), ConfigPath);

        Assert.That(config.Sources["profiles"].Path, Is.EqualTo(url));
    }

    [Test]
    public void A_source_url_with_a_sas_token_is_a_problem_that_does_not_repeat_the_token()
    {
        var problem = SingleProblem(Sample(root => root["sources"]!["profiles"]!["path"] =
            "https://acme.blob.core.windows.net/snapshots/profiles.csv?sv=2024-01-01&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.sources.profiles.path"));
            Assert.That(problem.Message, Does.Contain("https://acme.blob.core.windows.net/snapshots/profiles.csv").And.Contain("SAS"));
            Assert.That(problem.ToString(), Does.Not.Contain("sig=").And.Not.Contain("c2VjcmV0").And.Contain("Storage Blob Data Reader"));
        }
    }

    [Test]
    public void An_s3_url_as_a_source_is_a_problem_naming_what_a_source_can_be()
    {
        var problem = SingleProblem(Sample(root => root["sources"]!["profiles"]!["path"] = "s3://bucket/profiles.csv"));

        Assert.That(problem.Path, Is.EqualTo("$.sources.profiles.path"));
        Assert.That(problem.Message, Does.Contain("s3://").And.Contain("Azure blob URL"));
    }

    [Test]
    public void Comments_and_trailing_commas_are_allowed()
    {
        var json = SampleConfig.Replace("\"state\": {", "// where the state lives\n  \"state\": {", StringComparison.Ordinal)
            .Replace("\"path\": \"out\"", "\"path\": \"out\",", StringComparison.Ordinal);

        Assert.That(ConfigLoader.Parse(json, ConfigPath).Activations, Has.Count.EqualTo(2));
    }

    [Test]
    public void Every_problem_is_reported_at_once_with_its_json_path()
    {
        var json = Sample(root =>
        {
            Schedule(root, 0).AsObject().Remove("daily");
            Schedule(root, 0)["cron"] = "61 2 * * *";
            Activation(root, 0)["fromat"] = "csv";
            Activation(root, 1)["destination"] = "nowhere";
            Activation(root, 1)["maxFileSize"] = "1MiB";
        });

        var problems = Problems(json);

        Assert.That(problems.Select(p => p.Path), Is.EquivalentTo(new[]
        {
            "$.activations[0].schedule.cron",
            "$.activations[0].fromat",
            "$.activations[1].destination",
            "$.activations[1].maxFileSize",
        }));
    }

    [Test]
    public void The_exception_message_lists_every_problem_with_its_fix()
    {
        var json = Sample(root =>
        {
            Activation(root, 0)["mode"] = "sometimes";
            Activation(root, 1)["source"] = "elsewhere";
        });

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(json, ConfigPath));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(e.Message, Does.StartWith("/tmp/x/pipeline.json: 2 problem(s) in the configuration:"));
            Assert.That(e.Message, Does.Contain("$.activations[0].mode: \"sometimes\" is not one of \"full\", \"incremental\". Fix: Use one of \"full\", \"incremental\"."));
            Assert.That(e.Message, Does.Contain("$.activations[1].source: \"elsewhere\" is not defined under $.sources. Fix: Use one of: profiles, or add it to $.sources."));
        }
    }

    [Test]
    public void Skip_limits_and_the_field_bound_have_defaults_and_can_be_set()
    {
        var defaults = ConfigLoader.Parse(SampleConfig, ConfigPath);
        var set = ConfigLoader.Parse(Sample(root =>
        {
            Activation(root, 0)["onMalformedRow"] = "skip";
            Activation(root, 0)["maxSkippedRows"] = 50;
            Activation(root, 0)["maxSkippedFraction"] = 0.2;
            root["sources"]!["profiles"]!["maxFieldSize"] = "64KiB";
        }), ConfigPath);

        using (Assert.EnterMultipleScope())
        {
            var d = defaults.Activations[0].Spec;
            Assert.That((d.MaxSkippedRows, d.MaxSkippedFraction, d.Source.MaxFieldSize), Is.EqualTo((1000L, 0.01, 1024L * 1024)));
            var a = set.Activations[0].Spec;
            Assert.That((a.OnMalformedRow, a.MaxSkippedRows, a.MaxSkippedFraction, a.Source.MaxFieldSize), Is.EqualTo((MalformedRowPolicy.Skip, 50L, 0.2, 64L * 1024)));
        }
    }

    [Test]
    public void Skip_limits_and_the_field_bound_out_of_range_are_problems_at_their_paths()
    {
        var problems = Problems(Sample(root =>
        {
            Activation(root, 0)["maxSkippedRows"] = -1;
            Activation(root, 0)["maxSkippedFraction"] = 1.5;
            root["sources"]!["profiles"]!["maxFieldSize"] = "100MiB";
        }));

        Assert.That(problems.Select(p => (p.Path, p.Message)), Is.EquivalentTo(new[]
        {
            ("$.activations[0].maxSkippedRows", "must be a whole number from 0 to 2147483647, not -1."),
            ("$.activations[0].maxSkippedFraction", "must be a number from 0 to 1, not 1.5."),
            ("$.sources.profiles.maxFieldSize", "is 100 MiB, outside 1 KiB to 16 MiB."),
        }));
    }

    [Test]
    public void An_unknown_destination_names_the_ones_that_exist()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 1)["destination"] = "nowhere"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[1].destination"));
            Assert.That(problem.Message, Is.EqualTo("\"nowhere\" is not defined under $.destinations."));
            Assert.That(problem.Fix, Is.EqualTo("Use one of: local, or add it to $.destinations."));
        }
    }

    [Test]
    public void A_property_differing_only_in_case_is_reported_with_a_did_you_mean_fix()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["Segment"] = "S3"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].Segment"));
            Assert.That(problem.Message, Is.EqualTo("is not a known property."));
            Assert.That(problem.Fix, Is.EqualTo("Did you mean \"segment\"?"));
        }
    }

    [Test]
    public void A_misspelt_property_is_reported_with_a_did_you_mean_fix()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["fromat"] = "csv"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].fromat"));
            Assert.That(problem.Message, Is.EqualTo("is not a known property."));
            Assert.That(problem.Fix, Is.EqualTo("Did you mean \"format\"?"));
        }
    }

    [Test]
    public void An_unknown_property_without_a_near_name_lists_the_known_ones()
    {
        var problem = SingleProblem(Sample(root => root["destinations"]!["local"]!["bucket"] = "b"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.destinations.local.bucket"));
            Assert.That(problem.Fix, Is.EqualTo("Remove it; known properties here: path, type."));
        }
    }

    [Test]
    public void An_unknown_top_level_property_is_reported()
    {
        Assert.That(SingleProblem(Sample(root => root["activation"] = new JsonArray())).Path, Is.EqualTo("$.activation"));
    }

    [Test]
    public void Invalid_json_reports_the_line()
    {
        const string json = "{\n  \"sources\": {},\n  \"destinations\": {}\n  \"activations\": []\n}";

        var problem = SingleProblem(json);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$"));
            Assert.That(problem.Message, Does.StartWith("Not valid JSON at line 4, position 3:"));
            Assert.That(problem.Message, Does.Not.Contain("Path:"));
        }
    }

    [Test]
    public void A_top_level_that_is_not_an_object_is_rejected()
    {
        Assert.That(SingleProblem("[]").Message, Is.EqualTo("The top level must be an object."));
    }

    [Test]
    public void Missing_sections_are_all_reported()
    {
        var problems = Problems("{}");

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[] { "$.sources", "$.destinations", "$.activations" }));
        Assert.That(problems.Select(p => p.Message), Is.All.EqualTo("is required."));
    }

    [Test]
    public void An_activation_missing_required_properties_reports_each_of_them()
    {
        var problems = Problems(Sample(root => root["activations"] = new JsonArray(new JsonObject())));

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[]
        {
            "$.activations[0].id",
            "$.activations[0].source",
            "$.activations[0].segment",
            "$.activations[0].fields",
            "$.activations[0].destination",
            "$.activations[0].schedule",
        }));
    }

    [Test]
    public void A_bad_cron_expression_is_reported_at_the_cron_property()
    {
        var problem = SingleProblem(Sample(root =>
        {
            Schedule(root, 0).AsObject().Remove("daily");
            Schedule(root, 0)["cron"] = "0 25 * * *";
        }));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].schedule.cron"));
            Assert.That(problem.Message, Does.StartWith("\"0 25 * * *\" is not a valid cron expression"));
            Assert.That(problem.Fix, Does.Contain("minute hour day-of-month month day-of-week"));
        }
    }

    [Test]
    public void A_valid_cron_expression_is_accepted()
    {
        var config = ConfigLoader.Parse(Sample(root =>
        {
            Schedule(root, 0).AsObject().Remove("daily");
            Schedule(root, 0)["cron"] = "30 2 * * 1-5";
        }), ConfigPath);

        Assert.That(config.Activations[0].Schedule.Description, Is.EqualTo("cron \"30 2 * * 1-5\" (Europe/Berlin)"));
    }

    [Test]
    public void An_unknown_time_zone_is_reported()
    {
        var problem = SingleProblem(Sample(root =>
        {
            Schedule(root, 0)["timeZone"] = "Mars/Olympus_Mons";
            Schedule(root, 0).AsObject().Remove("startAt");
        }));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].schedule.timeZone"));
            Assert.That(problem.Message, Is.EqualTo("\"Mars/Olympus_Mons\" is not a known time zone."));
        }
    }

    [Test]
    public void An_unknown_time_zone_does_not_make_a_valid_start_time_a_problem()
    {
        var problem = SingleProblem(Sample(root => Schedule(root, 0)["timeZone"] = "Mars/Olympus_Mons"));

        Assert.That(problem.Path, Is.EqualTo("$.activations[0].schedule.timeZone"));
    }

    [Test]
    public void An_unknown_time_zone_and_a_bad_cron_expression_are_reported_together()
    {
        var problems = Problems(Sample(root =>
        {
            Schedule(root, 0)["timeZone"] = "Mars/Olympus_Mons";
            Schedule(root, 0).AsObject().Remove("startAt");
            Schedule(root, 0).AsObject().Remove("daily");
            Schedule(root, 0)["cron"] = "61 2 * * *";
        }));

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[] { "$.activations[0].schedule.timeZone", "$.activations[0].schedule.cron" }));
    }

    [Test]
    public void An_unknown_time_zone_and_a_bad_preset_are_reported_together()
    {
        var problems = Problems(Sample(root =>
        {
            Schedule(root, 1)["timeZone"] = "Mars/Olympus_Mons";
            Schedule(root, 1).AsObject().Remove("startAt");
            Schedule(root, 1)["every"] = "5h";
        }));

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[] { "$.activations[1].schedule.timeZone", "$.activations[1].schedule.every" }));
    }

    [Test]
    public void An_unreadable_start_time_is_reported()
    {
        var problem = SingleProblem(Sample(root => Schedule(root, 0)["startAt"] = "next tuesday"));

        Assert.That(problem.Path, Is.EqualTo("$.activations[0].schedule.startAt"));
    }

    [Test]
    public void A_schedule_needs_exactly_one_kind()
    {
        var none = SingleProblem(Sample(root => Schedule(root, 0).AsObject().Remove("daily")));
        var both = SingleProblem(Sample(root => Schedule(root, 0)["every"] = "6h"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(none.Path, Is.EqualTo("$.activations[0].schedule.cron"));
            Assert.That(none.Message, Is.EqualTo("no schedule kind is given."));
            Assert.That(both.Path, Is.EqualTo("$.activations[0].schedule.every"));
            Assert.That(both.Message, Is.EqualTo("has both \"daily\" and \"every\"."));
        }
    }

    [Test]
    public void An_every_interval_that_does_not_divide_the_day_is_rejected()
    {
        var problem = SingleProblem(Sample(root => Schedule(root, 1)["every"] = "5h"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[1].schedule.every"));
            Assert.That(problem.Message, Is.EqualTo("\"5h\" is not understood."));
            Assert.That(problem.Fix, Is.EqualTo("Use one of \"1h\", \"3h\", \"6h\", \"8h\", \"12h\"."));
        }
    }

    [Test]
    public void A_once_schedule_without_offset_is_read_in_the_time_zone()
    {
        var config = ConfigLoader.Parse(Sample(root =>
        {
            Schedule(root, 0).AsObject().Remove("daily");
            Schedule(root, 0).AsObject().Remove("startAt");
            Schedule(root, 0)["once"] = "2026-12-01T02:00";
        }), ConfigPath);

        var once = config.Activations[0].Schedule;
        Assert.That(once.NextSlot(DateTimeOffset.MinValue), Is.EqualTo(new DateTimeOffset(2026, 12, 1, 1, 0, 0, TimeSpan.Zero)));
    }

    [Test]
    public void Duplicate_activation_ids_are_reported_at_the_second_one()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 1)["id"] = "s1-daily"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[1].id"));
            Assert.That(problem.Message, Is.EqualTo("\"s1-daily\" is used by another activation."));
        }
    }

    [TestCase("")]
    [TestCase("-starts-with-dash")]
    [TestCase("has space")]
    [TestCase("a/b")]
    public void Invalid_activation_ids_are_rejected(string id)
    {
        Assert.That(SingleProblem(Sample(root => Activation(root, 0)["id"] = id)).Path, Is.EqualTo("$.activations[0].id"));
    }

    [Test]
    public void A_file_name_without_index_is_rejected()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["fileName"] = "{activation}_{runTime:yyyyMMdd}{ext}"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].fileName"));
            Assert.That(problem.Message, Is.EqualTo("\"{activation}_{runTime:yyyyMMdd}{ext}\" must contain {index}, or files of a split export would overwrite each other."));
        }
    }

    [Test]
    public void A_file_name_leaving_the_destination_is_rejected()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["fileName"] = "../{activation}_{index}"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].fileName"));
            Assert.That(problem.Message, Is.EqualTo("\"../{activation}_{index}\" must not contain '.' or '..' path segments."));
        }
    }

    [Test]
    public void A_file_name_whose_date_format_leaves_the_destination_is_rejected_with_its_path_and_a_fix()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["fileName"] = "{runTime:'..'/'..'/yyyy}_{index}"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].fileName"));
            Assert.That(problem.Message, Does.Contain("renders to \"../../2026_1.csv.gz\"").And.Contain("'..' path segment"));
            Assert.That(problem.Fix, Is.Not.Empty);
        }
    }

    [Test]
    public void A_cron_expression_missing_a_field_is_explained_in_words_without_control_characters()
    {
        var problem = SingleProblem(Sample(root =>
        {
            Schedule(root, 0).AsObject().Remove("daily");
            Schedule(root, 0)["cron"] = "0 2 * *";
        }));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Does.EndWith(".schedule.cron"));
            Assert.That(problem.Message, Does.Contain("Months: the field is missing"));
            Assert.That(problem.ToString().Where(char.IsControl), Is.Empty);
        }
    }

    [Test]
    public void A_problem_says_Fix_once_even_when_its_message_or_fix_already_does()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(new ConfigProblem("$", "Not valid JSON at line 1.", "Fix: add the comma.").ToString(), Is.EqualTo("$: Not valid JSON at line 1. Fix: add the comma."));
            Assert.That(new ConfigProblem("$.d", "Access denied. Fix: grant s3:PutObject.", "See `pipeline policy d`.").ToString(),
                Is.EqualTo("$.d: Access denied. Fix: grant s3:PutObject. Also: See `pipeline policy d`."));
            var json = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("{ \"sources\": ", "/x/pipeline.json"));
            Assert.That(json!.Message.Split("Fix").Length - 1, Is.EqualTo(1), json.Message);
        }
    }

    [Test]
    public void A_prefix_leaving_the_destination_is_rejected()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["prefix"] = "../elsewhere/"));

        Assert.That(problem.Path, Is.EqualTo("$.activations[0].prefix"));
    }

    [Test]
    public void A_max_file_size_below_five_mebibytes_is_rejected()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["maxFileSize"] = "4MiB"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].maxFileSize"));
            Assert.That(problem.Message, Is.EqualTo("is 4 MiB, outside 5 MiB to 5 TiB."));
            Assert.That(problem.Fix, Is.EqualTo("Choose a size between 5 MiB and 5 TiB."));
        }
    }

    [TestCase("5MiB", 5L * 1024 * 1024)]
    [TestCase("5 TiB", 5L * 1024 * 1024 * 1024 * 1024)]
    [TestCase("10GB", 10_000_000_000L)]
    public void A_max_file_size_inside_the_limits_is_accepted(string size, long bytes)
    {
        var config = ConfigLoader.Parse(Sample(root => Activation(root, 0)["maxFileSize"] = size), ConfigPath);

        Assert.That(config.Activations[0].Spec.MaxFileSize, Is.EqualTo(bytes));
    }

    [Test]
    public void A_max_file_size_may_be_a_plain_number_of_bytes()
    {
        var config = ConfigLoader.Parse(Sample(root => Activation(root, 0)["maxFileSize"] = 6_000_000), ConfigPath);

        Assert.That(config.Activations[0].Spec.MaxFileSize, Is.EqualTo(6_000_000L));
    }

    [TestCase("12 parsecs")]
    [TestCase("-5MiB")]
    [TestCase("MiB")]
    public void An_unreadable_size_is_rejected(string size)
    {
        var problem = SingleProblem(Sample(root => Activation(root, 0)["maxFileSize"] = size));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[0].maxFileSize"));
            Assert.That(problem.Message, Is.EqualTo($"is not a size: \"{size}\"."));
        }
    }

    [Test]
    public void Tuning_values_are_read_and_checked()
    {
        var problems = Problems(Sample(root => root["tuning"] = new JsonObject
        {
            ["chunkSize"] = "1KiB",
            ["parallelism"] = 1000,
            ["compressionLevel"] = "maximum",
        }));

        Assert.That(problems.Select(p => p.Path), Is.EqualTo(new[] { "$.tuning.chunkSize", "$.tuning.parallelism", "$.tuning.compressionLevel" }));
    }

    [Test]
    public void A_segment_containing_the_separator_is_rejected()
    {
        Assert.That(SingleProblem(Sample(root => Activation(root, 0)["segment"] = "S1;S2")).Path, Is.EqualTo("$.activations[0].segment"));
    }

    [Test]
    public void Duplicate_output_headers_are_rejected()
    {
        var problem = SingleProblem(Sample(root => Activation(root, 1)["fields"] = new JsonArray("email", new JsonObject { ["source"] = "phone", ["header"] = "email" })));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(problem.Path, Is.EqualTo("$.activations[1].fields"));
            Assert.That(problem.Message, Is.EqualTo("the header \"email\" appears twice."));
        }
    }

    [Test]
    public void A_non_ascii_segments_separator_is_refused_because_rows_are_split_on_bytes()
    {
        var problem = SingleProblem(Sample(root => root["sources"]!["profiles"]!["segmentsSeparator"] = "\u00a6"));

        Assert.That(problem.Path, Is.EqualTo("$.sources.profiles.segmentsSeparator"));
        Assert.That(problem.Message, Does.Contain("ASCII"));
    }
}
