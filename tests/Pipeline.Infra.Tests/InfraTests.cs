using System.Text.Json.Nodes;
using Pipeline.Infra.Tests.Bicep;

namespace Pipeline.Infra.Tests;

/// <summary>Base of every fixture over the compiled templates: bicep runs once per test run.</summary>
[Category("Integration")]
public abstract class InfraTests
{
    private protected InfraBuild Build { get; private set; } = null!;

    private protected Snapshot Shipped => Build.Shipped;

    [OneTimeSetUp]
    public async Task CompileTemplates()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        Build = await InfraBuild.GetAsync(timeout.Token);
    }

    /// <summary>The app settings of the Function App, name to value, from <paramref name="snapshot"/>.</summary>
    private protected static Dictionary<string, string> AppSettings(Snapshot snapshot)
    {
        var site = snapshot.Single("Microsoft.Web/sites");
        return site["properties"]!["siteConfig"]!["appSettings"]!.AsArray()
            .Select(s => s!.AsObject())
            .ToDictionary(s => (string)s["name"]!, s => (string)s["value"]!, StringComparer.Ordinal);
    }

    /// <summary>Every object in the compiled template, nested module templates included.</summary>
    private protected static IEnumerable<JsonObject> AllObjects(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                yield return obj;
                foreach (var child in obj.SelectMany(p => AllObjects(p.Value)))
                {
                    yield return child;
                }

                break;
            case JsonArray array:
                foreach (var child in array.SelectMany(AllObjects))
                {
                    yield return child;
                }

                break;
        }
    }

    /// <summary>The compiled template and each nested module template.</summary>
    private protected IEnumerable<JsonObject> Templates() =>
        AllObjects(Build.Template).Where(o => o["$schema"] is JsonValue schema
            && ((string?)schema)?.Contains("deploymentTemplate.json", StringComparison.Ordinal) == true);
}
