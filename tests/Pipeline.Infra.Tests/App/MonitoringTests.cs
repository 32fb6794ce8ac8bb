namespace Pipeline.Infra.Tests.App;

/// <summary>infra/app/monitoring.bicep: Application Insights on Log Analytics.</summary>
public sealed class MonitoringTests : InfraTests
{
    [Test]
    public void App_insights_is_workspace_based_with_local_auth_disabled()
    {
        var component = Shipped.Single("Microsoft.Insights/components")["properties"]!;
        Assert.That((bool)component["DisableLocalAuth"]!, Is.True);
        Assert.That((string)component["WorkspaceResourceId"]!, Is.EqualTo(Shipped.IdOf("Microsoft.OperationalInsights/workspaces")));

        var workspace = Shipped.Single("Microsoft.OperationalInsights/workspaces")["properties"]!;
        Assert.That((bool)workspace["features"]!["disableLocalAuth"]!, Is.True);
    }
}
