namespace Pipeline.Cli.Tests;

/// <summary>A fixture whose setup failed (emulators not installed) must tear down quietly, so its one error is the real one.</summary>
public class FixtureTeardownTests
{
    [Test]
    public void CliS3Tests_tears_down_after_a_setup_that_never_ran()
    {
        var fixture = new CliS3Tests();

        Assert.That(async () => await fixture.StopEmulator(), Throws.Nothing);
        Assert.That(fixture.TearDown, Throws.Nothing);
    }

    [Test]
    public void CliAzureTests_tears_down_after_a_setup_that_never_ran()
    {
        var fixture = new CliAzureTests();

        Assert.That(async () => await fixture.TearDown(), Throws.Nothing);
        Assert.That(async () => await fixture.StopS3(), Throws.Nothing);
    }

    [Test]
    public void The_other_cli_fixtures_tear_down_after_a_setup_that_never_ran()
    {
        Assert.That(new CliTests().TearDown, Throws.Nothing);
        Assert.That(new CliMessagesTests().TearDown, Throws.Nothing);
        Assert.That(new NativeAotTests().TearDown, Throws.Nothing);
    }
}
