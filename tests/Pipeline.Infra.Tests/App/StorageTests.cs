using System.Text.Json.Nodes;

namespace Pipeline.Infra.Tests.App;

/// <summary>infra/app/storage.bicep: the account, its queues, tables, containers and lifecycle rule.</summary>
public sealed class StorageTests : InfraTests
{
    private static readonly string[] StageQueues = ["plan-export", "build-slice", "assemble-files", "upload-part", "complete-export"];

    [Test]
    public void Account_takes_entra_identities_only_over_tls_1_2_with_no_public_blobs()
    {
        var account = Shipped.Single("Microsoft.Storage/storageAccounts");
        var properties = account["properties"]!;
        Assert.That((bool)properties["allowSharedKeyAccess"]!, Is.False);
        Assert.That((bool)properties["allowBlobPublicAccess"]!, Is.False);
        Assert.That((string)properties["minimumTlsVersion"]!, Is.EqualTo("TLS1_2"));
        Assert.That((bool)properties["supportsHttpsTrafficOnly"]!, Is.True);
        Assert.That((bool)properties["defaultToOAuthAuthentication"]!, Is.True);
        Assert.That((string)account["kind"]!, Is.EqualTo("StorageV2"));
    }

    [Test]
    public void Every_stage_queue_and_its_poison_queue_exist()
    {
        var expected = StageQueues.SelectMany(q => new[] { q, $"{q}-poison" });
        Assert.That(ChildNames("Microsoft.Storage/storageAccounts/queueServices/queues"), Is.EquivalentTo(expected));
    }

    [Test]
    public void The_pipeline_tables_exist()
    {
        Assert.That(ChildNames("Microsoft.Storage/storageAccounts/tableServices/tables"),
            Is.EquivalentTo(new[] { "pipelineRuns", "pipelineActivations", "pipelineUnfinished" }));
    }

    [Test]
    public void The_containers_exist_and_none_is_public()
    {
        var containers = Shipped.OfType("Microsoft.Storage/storageAccounts/blobServices/containers");
        Assert.That(ChildNames("Microsoft.Storage/storageAccounts/blobServices/containers"),
            Is.EquivalentTo(new[] { "staging", "snapshots", "config", "run-documents", "app-package" }));
        Assert.That(containers.Select(c => (string)c["properties"]!["publicAccess"]!), Is.All.EqualTo("None"));
    }

    [Test]
    public void Lifecycle_rule_deletes_staging_blobs_after_the_retention_days()
    {
        var policy = Shipped.Single("Microsoft.Storage/storageAccounts/managementPolicies");
        var rules = policy["properties"]!["policy"]!["rules"]!.AsArray();
        Assert.That(rules, Has.Count.EqualTo(1));
        var rule = rules[0]!;
        Assert.That((bool)rule["enabled"]!, Is.True);
        Assert.That((string)rule["type"]!, Is.EqualTo("Lifecycle"));
        var filters = rule["definition"]!["filters"]!;
        Assert.That(filters["prefixMatch"]!.AsArray().Select(p => (string)p!), Is.EqualTo(new[] { "staging/" }),
            "only the staging container: snapshots, config and packages are kept");
        Assert.That(filters["blobTypes"]!.AsArray().Select(p => (string)p!), Does.Contain("blockBlob"));
        var delete = rule["definition"]!["actions"]!["baseBlob"]!["delete"]!;
        Assert.That((int)delete["daysAfterModificationGreaterThan"]!, Is.EqualTo(3));
    }

    private IEnumerable<string> ChildNames(string type) =>
        Shipped.OfType(type).Select(r => ((string)r["name"]!).Split('/')[^1]);
}
