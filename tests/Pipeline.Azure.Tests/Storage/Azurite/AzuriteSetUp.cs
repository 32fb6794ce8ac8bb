using Pipeline.TestKit.Emulators;

namespace Pipeline.Azure.Tests.Storage.Azurite;

/// <summary>One Azurite for the fixtures in this namespace, on free loopback ports, stopped after them.</summary>
[SetUpFixture]
public sealed class AzuriteSetUp
{
    private static EmulatorProcess? _azurite;

    public static AzuriteEndpoints Endpoints =>
        _azurite?.Azurite ?? throw new InvalidOperationException("Azurite did not start (see the set-up failure).");

    [OneTimeSetUp]
    public async Task StartAzurite() => _azurite = await EmulatorProcess.StartAsync(EmulatorKind.Azurite, CancellationToken.None);

    [OneTimeTearDown]
    public async Task StopAzurite()
    {
        if (_azurite is not null) await _azurite.DisposeAsync();
        _azurite = null;
    }
}
