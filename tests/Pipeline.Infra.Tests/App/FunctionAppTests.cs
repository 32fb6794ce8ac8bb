using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Pipeline.Infra.Tests.Bicep;

namespace Pipeline.Infra.Tests.App;

/// <summary>infra/app/functionapp.bicep: the Flex Consumption plan and the Function App.</summary>
public sealed class FunctionAppTests : InfraTests
{
    private const string Sites = "Microsoft.Web/sites";
    private const string StorageAccounts = "Microsoft.Storage/storageAccounts";
    private const string Identities = "Microsoft.ManagedIdentity/userAssignedIdentities";

    // The settings the app reads (functions/Pipeline.Functions): the two identity-based storage connections,
    // the vault, the identity, and Entra-authenticated telemetry (the config is PipelineStorage's config/pipeline.json).
    private static readonly string[] ExpectedSettings =
    [
        "AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__tableServiceUri",
        "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
        "PipelineStorage__blobServiceUri", "PipelineStorage__queueServiceUri", "PipelineStorage__tableServiceUri",
        "PipelineStorage__credential", "PipelineStorage__clientId",
        "Pipeline__KeyVaultUri", "AZURE_CLIENT_ID",
        "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    ];

    private JsonObject Site => Shipped.Single(Sites);

    [Test]
    public void Plan_is_flex_consumption_FC1_on_linux()
    {
        var plan = Shipped.Single("Microsoft.Web/serverfarms");
        Assert.That((string)plan["sku"]!["name"]!, Is.EqualTo("FC1"));
        Assert.That((string)plan["sku"]!["tier"]!, Is.EqualTo("FlexConsumption"));
        Assert.That((string)plan["kind"]!, Is.EqualTo("functionapp"));
        Assert.That((bool)plan["properties"]!["reserved"]!, Is.True, "reserved = Linux");
        Assert.That((string)Site["kind"]!, Is.EqualTo("functionapp,linux"));
        Assert.That((string)Site["properties"]!["serverFarmId"]!, Is.EqualTo(Shipped.IdOf("Microsoft.Web/serverfarms")));
    }

    [Test]
    public void Runtime_is_dotnet_isolated_10()
    {
        var runtime = Site["properties"]!["functionAppConfig"]!["runtime"]!;
        Assert.That((string)runtime["name"]!, Is.EqualTo("dotnet-isolated"));
        Assert.That((string)runtime["version"]!, Is.EqualTo("10.0"));
    }

    [Test]
    public void Package_is_deployed_to_the_app_package_container_with_the_user_assigned_identity()
    {
        var identityId = Shipped.IdOf(Identities);
        var storage = Site["properties"]!["functionAppConfig"]!["deployment"]!["storage"]!;
        Assert.That((string)storage["type"]!, Is.EqualTo("blobContainer"));
        Assert.That((string)storage["value"]!,
            Is.EqualTo($"[format('{{0}}{{1}}', {Shipped.ReferenceOf(StorageAccounts, "2023-05-01", "primaryEndpoints.blob")}, 'app-package')]"));
        Assert.That((string)storage["authentication"]!["type"]!, Is.EqualTo("UserAssignedIdentity"));
        Assert.That((string)storage["authentication"]!["userAssignedIdentityResourceId"]!, Is.EqualTo(identityId));

        var identity = Site["identity"]!;
        Assert.That((string)identity["type"]!, Is.EqualTo("UserAssigned"));
        Assert.That(identity["userAssignedIdentities"]!.AsObject().Select(p => p.Key), Is.EqualTo(new[] { identityId }));
    }

    [Test]
    public void Scale_and_concurrency_come_from_the_parameters()
    {
        var scale = Site["properties"]!["functionAppConfig"]!["scaleAndConcurrency"]!;
        Assert.That((int)scale["instanceMemoryMB"]!, Is.EqualTo(2048));
        Assert.That((int)scale["maximumInstanceCount"]!, Is.EqualTo(100));
    }

    [Test]
    public void App_is_https_only_with_tls_1_2_and_no_ftp_or_basic_publishing_credentials()
    {
        var properties = Site["properties"]!;
        Assert.That((bool)properties["httpsOnly"]!, Is.True);
        Assert.That((string)properties["siteConfig"]!["minTlsVersion"]!, Is.EqualTo("1.2"));
        Assert.That((string)properties["siteConfig"]!["scmMinTlsVersion"]!, Is.EqualTo("1.2"));
        Assert.That((string)properties["siteConfig"]!["ftpsState"]!, Is.EqualTo("Disabled"));

        var policies = Shipped.OfType("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
            .ToDictionary(p => ((string)p["name"]!).Split('/')[^1], p => (bool)p["properties"]!["allow"]!);
        Assert.That(policies, Is.EquivalentTo(new Dictionary<string, bool> { ["ftp"] = false, ["scm"] = false }));
    }

    [Test]
    public void App_settings_are_the_ones_the_app_reads()
    {
        Assert.That(AppSettings(Shipped).Keys, Is.EquivalentTo(ExpectedSettings));
        // AWS_ROLE_ARN only when an AWS role is given: an empty one would read as configured.
        Assert.That(AppSettings(Build.WithDeployer).Keys, Is.EquivalentTo(ExpectedSettings.Append("AWS_ROLE_ARN")));
        Assert.That(AppSettings(Build.WithDeployer)["AWS_ROLE_ARN"], Is.EqualTo(InfraBuild.AwsRoleArn));
    }

    [Test]
    public void Storage_connections_are_identity_based_with_the_user_assigned_identity()
    {
        var settings = AppSettings(Shipped);
        var clientId = $"[{Shipped.ReferenceOf(Identities, "2023-01-31", "clientId")}]";
        foreach (var connection in new[] { "AzureWebJobsStorage", "PipelineStorage" })
        {
            Assert.That(settings[$"{connection}__credential"], Is.EqualTo("managedidentity"));
            Assert.That(settings[$"{connection}__clientId"], Is.EqualTo(clientId));
            foreach (var service in new[] { "blob", "queue", "table" })
            {
                Assert.That(settings[$"{connection}__{service}ServiceUri"],
                    Is.EqualTo($"[{Shipped.ReferenceOf(StorageAccounts, "2023-05-01", $"primaryEndpoints.{service}")}]"));
            }
        }

        Assert.That(settings, Does.Not.ContainKey("AzureWebJobsStorage").And.Not.ContainKey("PipelineStorage"),
            "a bare connection name would be a connection string");
        Assert.That(settings["AZURE_CLIENT_ID"], Is.EqualTo(clientId));
    }

    [Test]
    public void Config_and_vault_settings_point_at_the_deployed_resources()
    {
        var settings = AppSettings(Shipped);
        // The app reads the published config from the PipelineStorage account's config container: the output says where.
        Assert.That((string)Shipped.Outputs["configUri"]!,
            Is.EqualTo($"[format('{{0}}{{1}}/pipeline.json', {Shipped.ReferenceOf(StorageAccounts, "2023-05-01", "primaryEndpoints.blob")}, 'config')]"));
        Assert.That(settings["PipelineStorage__blobServiceUri"], Is.EqualTo($"[{Shipped.ReferenceOf(StorageAccounts, "2023-05-01", "primaryEndpoints.blob")}]"));
        Assert.That(settings["Pipeline__KeyVaultUri"], Is.EqualTo($"[{Shipped.ReferenceOf("Microsoft.KeyVault/vaults", "2023-07-01", "vaultUri")}]"));
    }

    [Test]
    public void Telemetry_is_sent_with_entra_authentication()
    {
        var settings = AppSettings(Shipped);
        Assert.That(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"],
            Is.EqualTo($"[format('Authorization=AAD;ClientId={{0}}', {Shipped.ReferenceOf(Identities, "2023-01-31", "clientId")})]"));
        // The component's own connection string: with local auth off it cannot ingest without the token.
        Assert.That(settings["APPLICATIONINSIGHTS_CONNECTION_STRING"],
            Is.EqualTo($"[{Shipped.ReferenceOf("Microsoft.Insights/components", "2020-02-02", "ConnectionString")}]"));
        Assert.That(settings.Keys.Where(k => k.Contains("CONNECTION", StringComparison.OrdinalIgnoreCase)),
            Is.EqualTo(new[] { "APPLICATIONINSIGHTS_CONNECTION_STRING" }));
    }

    [Test]
    public void No_setting_that_flex_consumption_rejects()
    {
        string[] rejected =
        [
            "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_RUNTIME_VERSION", "FUNCTIONS_EXTENSION_VERSION",
            "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
            "SCM_DO_BUILD_DURING_DEPLOYMENT", "WEBSITE_TIME_ZONE", "WEBSITE_NODE_DEFAULT_VERSION",
        ];
        foreach (var snapshot in new[] { Shipped, Build.WithDeployer })
        {
            Assert.That(AppSettings(snapshot).Keys, Has.None.AnyOf(rejected));
        }

        // Nor anywhere else, e.g. a config/appsettings resource next to the site.
        var template = Build.Template.ToJsonString();
        Assert.That(rejected.Where(r => Regex.IsMatch(template, $@"\b{r}\b")), Is.Empty);
    }

    [Test]
    public void Azd_finds_the_app_by_the_service_name_in_azure_yaml()
    {
        var tag = (string)Site["tags"]!["azd-service-name"]!;
        var azureYaml = File.ReadAllLines(Path.Combine(Build.RepoRoot, "azure.yaml"));
        var services = Array.FindIndex(azureYaml, l => l == "services:");
        Assert.That(services, Is.GreaterThanOrEqualTo(0), "azure.yaml has a services: section");
        var service = azureYaml.Skip(services + 1).Where(l => l.StartsWith("  ", StringComparison.Ordinal) && !l.StartsWith("   ", StringComparison.Ordinal) && !l.TrimStart().StartsWith('#')).ToList();
        Assert.That(service, Is.EqualTo(new[] { $"  {tag}:" }));
        Assert.That(azureYaml, Does.Contain("    project: ./functions/Pipeline.Functions").And.Contain("    host: function").And.Contain("    language: dotnet"));
    }
}
