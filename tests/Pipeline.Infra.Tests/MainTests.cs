using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Pipeline.Azure.Federation;
using Pipeline.Infra.Tests.Bicep;

namespace Pipeline.Infra.Tests;

/// <summary>infra/main.bicep and infra/main.bicepparam as a whole: lint, parameters, outputs, no secrets.</summary>
public sealed partial class MainTests : InfraTests
{
    [Test]
    public void Every_template_builds_and_lints_without_a_warning()
    {
        // bicep exits 0 on warnings, so its output is what says whether a template is clean.
        var lines = Build.Diagnostics.Split('\n').Where(l => Regex.IsMatch(l, @"\b(Warning|Error)\b"));
        Assert.That(lines, Is.Empty);
    }

    [Test]
    public void Scale_parameters_default_to_2048_MB_and_100_instances_within_the_limits_flex_accepts()
    {
        var parameters = Build.Template["parameters"]!;
        var memory = parameters["instanceMemoryMB"]!;
        Assert.That((int)memory["defaultValue"]!, Is.EqualTo(2048));
        Assert.That(memory["allowedValues"]!.AsArray().Select(v => (int)v!), Is.EqualTo(new[] { 512, 2048, 4096 }));

        var instances = parameters["maximumInstanceCount"]!;
        Assert.That((int)instances["defaultValue"]!, Is.EqualTo(100));
        Assert.That((int)instances["minValue"]!, Is.EqualTo(40));
        Assert.That((int)instances["maxValue"]!, Is.EqualTo(1000));

        Assert.That((int)parameters["stagingRetentionDays"]!["defaultValue"]!, Is.EqualTo(3));
    }

    [Test]
    public void Main_bicepparam_describes_a_typical_environment()
    {
        var p = Build.Parameters;
        Assert.That((string)p["environmentName"]!["value"]!, Is.EqualTo("prod"));
        Assert.That((int)p["instanceMemoryMB"]!["value"]!, Is.EqualTo(2048));
        Assert.That((int)p["maximumInstanceCount"]!["value"]!, Is.EqualTo(100));
        Assert.That((int)p["stagingRetentionDays"]!["value"]!, Is.EqualTo(3));
        Assert.That((string)p["deployerPrincipalId"]!["value"]!, Is.Empty, "no deployer unless PIPELINE_DEPLOYER_PRINCIPAL_ID is set");
    }

    [Test]
    public void No_key_connection_string_or_sas_appears_anywhere()
    {
        string[] forbidden =
        [
            "listKeys(", "listAccountSas(", "listServiceSas(", "listSecrets(", "AccountKey", "SharedAccessSignature",
            "DefaultEndpointsProtocol", "UseDevelopmentStorage", "SharedAccessKey",
        ];
        var texts = new Dictionary<string, string>
        {
            ["compiled main.bicep"] = Build.Template.ToJsonString(),
            ["snapshot of main.bicepparam"] = Build.Shipped.Document.ToJsonString(),
            ["snapshot with a deployer"] = Build.WithDeployer.Document.ToJsonString(),
        };
        foreach (var (what, text) in texts)
        {
            foreach (var word in forbidden)
            {
                Assert.That(Around(text, word), Is.Empty, $"{word} in the {what}");
            }
        }
    }

    [Test]
    public void No_parameter_or_output_carries_a_secret()
    {
        var checkedNames = 0;
        foreach (var template in Templates())
        {
            foreach (var section in new[] { "parameters", "outputs" })
            {
                foreach (var (name, declaration) in template[section]?.AsObject() ?? [])
                {
                    checkedNames++;
                    var type = (string?)declaration!["type"];
                    Assert.That(type, Is.Not.EqualTo("securestring").IgnoreCase.And.Not.EqualTo("secureObject").IgnoreCase,
                        $"{section} {name}: the templates take and give no secret (operators set them in Key Vault)");
                    Assert.That(IsSecretLooking(name), Is.False,
                        $"{section} {name}: a name about a key, secret, password or connection must name or point at it (…Name, …Names, …Uri, …Id), not hold it");
                    if (section == "outputs")
                    {
                        Assert.That(declaration.ToJsonString(), Does.Not.Match(@"(?i)connectionstring|\blist[A-Za-z]*\("),
                            $"output {name} reads a connection string or a list* function");
                    }
                }
            }
        }

        Assert.That(checkedNames, Is.GreaterThan(40), "the compiled template has main's and every module's parameters and outputs");
    }

    [Test]
    public void Templates_create_no_key_vault_secret_and_no_storage_key()
    {
        string[] secretTypes = ["Microsoft.KeyVault/vaults/secrets", "Microsoft.KeyVault/vaults/keys", "Microsoft.Storage/storageAccounts/localUsers"];
        foreach (var snapshot in new[] { Build.Shipped, Build.WithDeployer })
        {
            Assert.That(snapshot.Resources.Select(r => (string)r["type"]!), Has.None.AnyOf(secretTypes));
        }
    }

    [Test]
    public void Resource_names_depend_only_on_the_parameters_and_the_resource_group()
    {
        // A redeploy with the same parameters then targets the same resources and changes nothing.
        var text = Build.Template.ToJsonString();
        Assert.That(Around(text, "utcNow("), Is.Empty);
        Assert.That(Around(text, "newGuid("), Is.Empty);
        foreach (var resource in Shipped.Resources.Where(r => (string)r["type"]! != "Microsoft.Authorization/roleAssignments"))
        {
            Assert.That((string)resource["name"]!, Does.Not.StartWith("["), $"{resource["type"]} has a name bicep cannot work out before deploying");
        }
    }

    [Test]
    public void Outputs_name_the_app_its_url_and_its_identity()
    {
        var outputs = Shipped.Outputs;
        Assert.That((string)outputs["functionAppName"]!, Is.EqualTo((string)Shipped.Single("Microsoft.Web/sites")["name"]!));
        Assert.That((string)outputs["functionAppUrl"]!,
            Is.EqualTo($"[format('https://{{0}}', {Shipped.ReferenceOf("Microsoft.Web/sites", "2024-04-01", "defaultHostName")})]"));
        Assert.That((string)outputs["identityPrincipalId"]!, Is.EqualTo($"[{IdentityReference("principalId")}]"));
        Assert.That((string)outputs["identityClientId"]!, Is.EqualTo($"[{IdentityReference("clientId")}]"));
        Assert.That((string)outputs["keyVaultName"]!, Is.EqualTo((string)Shipped.Single("Microsoft.KeyVault/vaults")["name"]!));
        Assert.That(outputs["keyVaultSecretNames"]!.AsArray().Select(n => (string)n!), Is.EqualTo(new[] { "pipeline-aws-key" }));
    }

    [Test]
    public void Web_identity_outputs_are_what_the_token_provider_presents_to_AWS()
    {
        var outputs = Shipped.Outputs;
        Assert.That((string)outputs["webIdentityIssuer"]!, Is.EqualTo($"https://sts.windows.net/{InfraBuild.TenantId}/"));
        Assert.That((string)outputs["webIdentityAudience"]!, Is.EqualTo(ManagedIdentityTokenProvider.Audience));
        // Entra puts the managed identity's object (principal) id in the token's sub claim.
        Assert.That((string)outputs["webIdentitySubject"]!, Is.EqualTo($"[{IdentityReference("principalId")}]"));
    }

    // Each place word occurs, with some text either side: a failure shows where, not the whole template.
    private static List<string> Around(string text, string word)
    {
        var found = new List<string>();
        for (var at = text.IndexOf(word, StringComparison.OrdinalIgnoreCase); at >= 0; at = text.IndexOf(word, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            var start = Math.Max(0, at - 120);
            found.Add(text[start..Math.Min(text.Length, at + word.Length + 60)]);
        }

        return found;
    }

    private string IdentityReference(string property) =>
        Shipped.ReferenceOf("Microsoft.ManagedIdentity/userAssignedIdentities", "2023-01-31", property);

    private static bool IsSecretLooking(string name)
    {
        // "keyVault…" names the vault, not a key.
        var rest = KeyVaultWord().Replace(name, "");
        return SecretWord().IsMatch(rest) && !PointerSuffix().IsMatch(rest);
    }

    [GeneratedRegex("(?i)keyvault")]
    private static partial Regex KeyVaultWord();

    [GeneratedRegex("(?i)key|secret|password|connection|token|sas|credential")]
    private static partial Regex SecretWord();

    [GeneratedRegex("(Name|Names|Uri|Id)$")]
    private static partial Regex PointerSuffix();
}
