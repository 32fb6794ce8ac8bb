using System.Net;
using System.Net.Sockets;
using Pipeline.TestKit.Emulators;

namespace Pipeline.S3.Tests.Infrastructure;

public sealed class EmulatorProcessTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder()
    {
        _folder = Path.Combine(Path.GetTempPath(), "pipeline-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
    }

    [TearDown]
    public void DeleteFolder()
    {
        if (_folder is not null && Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public void The_emulators_folder_is_found_from_the_test_binaries() =>
        Assert.That(File.Exists(Path.Combine(EmulatorProcess.EmulatorsFolder(), "package.json")), Is.True);

    [Test]
    public void An_install_is_missing_without_node_modules_current_after_a_stamp_and_stale_when_the_lock_file_changes()
    {
        File.WriteAllText(Path.Combine(_folder, "package.json"), "{}");
        File.WriteAllText(Path.Combine(_folder, "package-lock.json"), "{\"v\":1}");
        var install = new EmulatorInstall(_folder);
        Assert.That(install.State, Is.EqualTo(InstallState.Missing));

        // node_modules from a hand-run `npm ci` without our stamp: installed again once, to be sure it matches.
        Directory.CreateDirectory(Path.Combine(_folder, "node_modules"));
        Assert.That(install.State, Is.EqualTo(InstallState.Missing));

        var stamp = Path.Combine(_folder, "node_modules", EmulatorInstall.StampFile);
        File.WriteAllText(stamp, "not the hash");
        Assert.That(install.State, Is.EqualTo(InstallState.Stale));
    }

    [Test]
    public async Task A_failed_npm_ci_names_the_folder_the_exit_code_and_what_npm_said()
    {
        // No package-lock.json: `npm ci` refuses at once, without the network.
        File.WriteAllText(Path.Combine(_folder, "package.json"), "{\"name\":\"x\",\"private\":true}");
        var install = new EmulatorInstall(_folder);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => install.EnsureInstalledAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("Installing the test emulators failed").And.Contain(_folder)
            .And.Contain("exited with code").And.Contain("package-lock").And.Contain(EmulatorInstall.InstallCommand));
        Assert.That(install.State, Is.EqualTo(InstallState.Missing));
    }

    [Test]
    public async Task Without_npm_on_the_path_the_message_says_to_install_node_and_npm()
    {
        File.WriteAllText(Path.Combine(_folder, "package.json"), "{}");
        var install = new EmulatorInstall(_folder, npm: "npm-that-does-not-exist-" + Guid.NewGuid().ToString("N"));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => install.EnsureInstalledAsync(CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("cannot be run").And.Contain("Install Node.js 20 or later with npm").And.Contain(_folder));
    }

    [Test]
    public void Bind_failures_are_recognised_from_node_stderr()
    {
        Assert.That(EmulatorProcess.IsBindFailure("Exit due to unhandled error: listen EADDRINUSE: address already in use 127.0.0.1:41005"), Is.True);
        Assert.That(EmulatorProcess.IsBindFailure("Error: Cannot find module 'fauxqs'"), Is.False);
    }

    [Test, Category("Integration")]
    public async Task A_start_whose_port_is_taken_before_node_binds_it_retries_on_new_ports()
    {
        // Azurite's queue port is taken by another listener at the moment node binds: the first attempt must fail to
        // bind and the launcher must come up on fresh ports instead of reporting an error.
        using var squatter = new PortSquatter();
        await using var azurite = await EmulatorProcess.StartAsync(EmulatorKind.Azurite, squatter.Intercept, CancellationToken.None);

        Assert.That(squatter.Taken, Is.Not.Empty);
        Assert.That(azurite.Ports.Intersect(squatter.Taken), Is.Empty);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, azurite.Azurite.QueuePort);
        Assert.That(client.Connected, Is.True);
    }

    /// <summary>Takes the second port of the first attempt, as a concurrent process would between pick and bind.</summary>
    private sealed class PortSquatter : IDisposable
    {
        private readonly List<TcpListener> _listeners = [];

        public List<int> Taken { get; } = [];

        public void Intercept(int attempt, IReadOnlyList<int> ports)
        {
            if (attempt != 1) return;
            var listener = new TcpListener(IPAddress.Loopback, ports[1]);
            listener.Start();
            _listeners.Add(listener);
            Taken.Add(ports[1]);
        }

        public void Dispose()
        {
            foreach (var listener in _listeners) listener.Stop();
        }
    }
}
