namespace Pipeline.Infra.Tests.Bicep;

public sealed class SnapshotTests
{
    [Test]
    public void Arm_guid_gives_what_bicep_computed_for_a_deployer_role_assignment()
    {
        // Recorded from bicep 0.49.2's snapshot of the config container grant; RbacTests re-checks it live.
        var name = Snapshot.ArmGuid(
            "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/staudexpph7ao7cln5fba/blobServices/default/containers/config",
            "11111111-2222-3333-4444-555555555555",
            "ba92f5b4-2d11-453d-a403-e96b0029c9fe");
        Assert.That(name, Is.EqualTo(Guid.Parse("6f13f0cd-46d3-5081-bd41-9b77426364d3")));
    }
}
