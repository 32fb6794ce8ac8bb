using Pipeline.S3.Tests.Integration;
using Pipeline.TestKit.Emulators;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>One Azurite (the app's storage account) and one fauxqs (the customer's S3) for the fixtures here, stopped after them.</summary>
[SetUpFixture]
public sealed class Emulators
{
    private static EmulatorProcess? _azurite;
    private static S3Emulator? _s3;

    public static AzuriteEndpoints Azurite => _azurite?.Azurite ?? throw new InvalidOperationException("Azurite did not start (see the set-up failure).");

    internal static S3Emulator S3 => _s3 ?? throw new InvalidOperationException("fauxqs did not start (see the set-up failure).");

    /// <summary>The app reads secrets from PIPELINE_SECRET_* app settings (environment variables): the emulator's key pair.</summary>
    private static readonly string SecretVariable = Pipeline.Local.Secrets.EnvironmentSecretStore.VariableName(ExportWorld.SecretName);

    [OneTimeSetUp]
    public async Task Start()
    {
        Environment.SetEnvironmentVariable(SecretVariable, """{"accessKeyId": "test", "secretAccessKey": "test"}""");
        _azurite = await EmulatorProcess.StartAsync(EmulatorKind.Azurite, CancellationToken.None);
        _s3 = await S3Emulator.StartAsync(EmulatorKind.Fauxqs);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        Environment.SetEnvironmentVariable(SecretVariable, null);
        if (_s3 is not null) await _s3.DisposeAsync();
        if (_azurite is not null) await _azurite.DisposeAsync();
        _s3 = null;
        _azurite = null;
    }
}
