namespace Pipeline.S3.Tests.Infrastructure;

public sealed class EmulatorProcessTests
{
    [Test]
    public void Without_node_modules_the_fixture_says_which_npm_command_to_run()
    {
        var folder = Path.Combine(Path.GetTempPath(), "pipeline-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            Assert.That(EmulatorProcess.MissingInstall(folder, EmulatorKind.Fauxqs),
                Does.Contain("npm ci --prefix tests/emulators").And.Contain("Fauxqs").And.Contain(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void The_emulators_folder_is_found_from_the_test_binaries() =>
        Assert.That(File.Exists(Path.Combine(EmulatorProcess.EmulatorsFolder(), "package.json")), Is.True);
}
