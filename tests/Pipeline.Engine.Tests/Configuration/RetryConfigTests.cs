using System.Text.Json.Nodes;
using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Tests.Configuration;

public class RetryConfigTests
{
    private const string ConfigPath = "/tmp/x/pipeline.json";

    private const string Config = """
        {
          "sources": { "profiles": { "path": "profiles.csv.gz" } },
          "destinations": { "local": { "type": "local", "path": "out" } },
          "activations": [
            { "id": "a", "source": "profiles", "segment": "S1", "fields": ["profileId"], "destination": "local",
              "schedule": { "daily": "02:00" } }
          ]
        }
        """;

    private static string With(Action<JsonNode> change)
    {
        var root = JsonNode.Parse(Config)!;
        change(root);
        return root.ToJsonString();
    }

    private static ConfigProblem SingleProblem(string json)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(json, ConfigPath));
        Assert.That(e.Problems, Has.Count.EqualTo(1), string.Join("\n", e.Problems));
        return e.Problems[0];
    }

    [Test]
    public void Without_a_retry_policy_failed_runs_are_retried_three_times_from_ten_minutes()
    {
        var a = ConfigLoader.Parse(Config, ConfigPath).Activations[0];

        Assert.That(a.Retry, Is.EqualTo(new RetryPolicy(3, TimeSpan.FromMinutes(10))));
    }

    [Test]
    public void A_retry_policy_sets_attempts_and_backoff()
    {
        var json = With(r => r["activations"]![0]!["retry"] = JsonNode.Parse("""{ "attempts": 5, "backoff": "2h" }"""));

        var a = ConfigLoader.Parse(json, ConfigPath).Activations[0];

        Assert.That(a.Retry, Is.EqualTo(new RetryPolicy(5, TimeSpan.FromHours(2))));
    }

    [Test]
    public void Zero_attempts_turns_retries_off()
    {
        var json = With(r => r["activations"]![0]!["retry"] = JsonNode.Parse("""{ "attempts": 0 }"""));

        var retry = ConfigLoader.Parse(json, ConfigPath).Activations[0].Retry;

        Assert.That(retry.Allows(1), Is.False);
    }

    [Test]
    public void Backoff_doubles_for_each_next_attempt()
    {
        var retry = new RetryPolicy(3, TimeSpan.FromMinutes(10));

        Assert.That(new[] { retry.DelayAfter(1), retry.DelayAfter(2), retry.DelayAfter(3) },
            Is.EqualTo(new[] { TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(40) }));
        Assert.That(new[] { retry.Allows(3), retry.Allows(4) }, Is.EqualTo(new[] { true, false }));
    }

    [TestCase("""{ "attempts": 21 }""", "$.activations[0].retry.attempts", "must be a whole number from 0 to 20")]
    [TestCase("""{ "backoff": "soon" }""", "$.activations[0].retry.backoff", "is not a duration")]
    [TestCase("""{ "backoff": "2s" }""", "$.activations[0].retry.backoff", "is outside 10s to 1d")]
    [TestCase("""{ "attempt": 2 }""", "$.activations[0].retry.attempt", "is not a known property")]
    public void A_bad_retry_policy_is_reported_with_its_json_path(string retry, string path, string message)
    {
        var json = With(r => r["activations"]![0]!["retry"] = JsonNode.Parse(retry));

        var problem = SingleProblem(json);

        Assert.That(problem.Path, Is.EqualTo(path));
        Assert.That(problem.Message, Does.Contain(message));
    }

    [Test]
    public void The_watchdog_waits_fifteen_minutes_unless_configured()
    {
        Assert.That(ConfigLoader.Parse(Config, ConfigPath).Watchdog.StalledAfter, Is.EqualTo(TimeSpan.FromMinutes(15)));
        var json = With(r => r["watchdog"] = JsonNode.Parse("""{ "stalledAfter": "1h" }"""));
        Assert.That(ConfigLoader.Parse(json, ConfigPath).Watchdog.StalledAfter, Is.EqualTo(TimeSpan.FromHours(1)));
    }

    [Test]
    public void A_watchdog_shorter_than_a_minute_is_refused()
    {
        var problem = SingleProblem(With(r => r["watchdog"] = JsonNode.Parse("""{ "stalledAfter": "30s" }""")));

        Assert.That(problem.Path, Is.EqualTo("$.watchdog.stalledAfter"));
        Assert.That(problem.Message, Does.Contain("outside 1m to 1d"));
    }
}
