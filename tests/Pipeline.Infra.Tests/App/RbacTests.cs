using Pipeline.Infra.Tests.Bicep;

namespace Pipeline.Infra.Tests.App;

/// <summary>infra/app/rbac.bicep: exactly the least-privilege role assignments, each on its own resource.</summary>
public sealed class RbacTests : InfraTests
{
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
    private const string KeyVaultSecretsOfficer = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
    private const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";

    [Test]
    public void The_app_identity_gets_exactly_its_data_roles_on_storage_vault_and_app_insights()
    {
        Assert.That(Describe(Shipped), Is.EquivalentTo(AppRoles(Shipped)));
    }

    [Test]
    public void A_deployer_gets_only_config_writes_and_secret_management()
    {
        var snapshot = Build.WithDeployer;
        var config = $"{snapshot.IdOf("Microsoft.Storage/storageAccounts")}/blobServices/default/containers/config";
        var expected = AppRoles(snapshot).Concat(
        [
            $"{config} | {InfraBuild.DeployerPrincipalId} (ServicePrincipal) | {StorageBlobDataContributor}",
            $"{snapshot.IdOf("Microsoft.KeyVault/vaults")} | {InfraBuild.DeployerPrincipalId} (ServicePrincipal) | {KeyVaultSecretsOfficer}",
        ]);
        Assert.That(Describe(snapshot), Is.EquivalentTo(expected));
    }

    [Test]
    public void Every_assignment_is_named_guid_of_scope_principal_and_role_with_a_built_in_role()
    {
        foreach (var snapshot in new[] { Shipped, Build.WithDeployer })
        {
            foreach (var assignment in snapshot.RoleAssignments())
            {
                Assert.That(assignment.NameIsGuidOfScopePrincipalRole, Is.True, $"{assignment}: name is not guid(scope, principal, role)");
                Assert.That(assignment.RoleDefinitionId,
                    Is.EqualTo($"/subscriptions/{InfraBuild.SubscriptionId}/providers/Microsoft.Authorization/roleDefinitions/{assignment.RoleId}"));
                Assert.That(assignment.Scope, Does.StartWith($"/subscriptions/{InfraBuild.SubscriptionId}/resourceGroups/{InfraBuild.ResourceGroup}/providers/"),
                    "scoped to one resource, never the resource group or subscription");
            }
        }
    }

    [Test]
    public void Arm_guid_matches_what_bicep_resolves()
    {
        // The deployer's assignments have names bicep works out itself: the C# guid() above must agree.
        var resolved = Build.WithDeployer.RoleAssignments().Where(a => a.PrincipalId == InfraBuild.DeployerPrincipalId).ToList();
        Assert.That(resolved, Has.Count.EqualTo(2));
        Assert.That(resolved.Select(a => a.NameIsGuidOfScopePrincipalRole), Is.All.True);
    }

    private static IEnumerable<string> AppRoles(Snapshot snapshot)
    {
        var principal = $"[{snapshot.ReferenceOf("Microsoft.ManagedIdentity/userAssignedIdentities", "2023-01-31", "principalId")}]";
        var storage = snapshot.IdOf("Microsoft.Storage/storageAccounts");
        return
        [
            $"{storage} | {principal} (ServicePrincipal) | {StorageBlobDataOwner}",
            $"{storage} | {principal} (ServicePrincipal) | {StorageQueueDataContributor}",
            $"{storage} | {principal} (ServicePrincipal) | {StorageTableDataContributor}",
            $"{snapshot.IdOf("Microsoft.KeyVault/vaults")} | {principal} (ServicePrincipal) | {KeyVaultSecretsUser}",
            $"{snapshot.IdOf("Microsoft.Insights/components")} | {principal} (ServicePrincipal) | {MonitoringMetricsPublisher}",
        ];
    }

    // One line per assignment, so a failure shows the whole unexpected or missing grant.
    private static IEnumerable<string> Describe(Snapshot snapshot) =>
        snapshot.RoleAssignments().Select(a => $"{a.Scope} | {a.PrincipalId} ({a.PrincipalType}) | {a.RoleId}");
}
