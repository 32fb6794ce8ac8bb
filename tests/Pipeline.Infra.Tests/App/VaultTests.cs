namespace Pipeline.Infra.Tests.App;

/// <summary>infra/app/vault.bicep: the Key Vault that holds the AWS keys.</summary>
public sealed class VaultTests : InfraTests
{
    [Test]
    public void Vault_uses_rbac_with_soft_delete_and_purge_protection()
    {
        var properties = Shipped.Single("Microsoft.KeyVault/vaults")["properties"]!;
        Assert.That((bool)properties["enableRbacAuthorization"]!, Is.True);
        Assert.That((bool)properties["enableSoftDelete"]!, Is.True);
        Assert.That((bool)properties["enablePurgeProtection"]!, Is.True);
        Assert.That((int)properties["softDeleteRetentionInDays"]!, Is.EqualTo(90));
        Assert.That(properties["accessPolicies"], Is.Null, "access is by role assignment only");
        Assert.That((bool)properties["enabledForTemplateDeployment"]!, Is.False, "no template reads a secret");
    }
}
