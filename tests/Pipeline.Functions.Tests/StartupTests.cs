using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Azure.Storage;
using Pipeline.Hosting;

namespace Pipeline.Functions.Tests;

/// <summary>The app's host builds with the production wiring and every function class resolves: a wiring error fails here, not after a deploy.</summary>
public sealed class StartupTests
{
    private static readonly Type[] FunctionClasses =
        [typeof(ScheduleExports), typeof(StageFunctions), typeof(PoisonFunctions), typeof(SweepStaleUploads), typeof(Watchdog)];

    [Test]
    public void The_host_builds_with_the_sample_settings_and_every_function_class_resolves_without_touching_the_network()
    {
        var clock = Stopwatch.StartNew();
        // Nothing listens at the development storage ports here: building and resolving must not need it.
        using var host = AppHost.Build(AppHost.SampleSettings());
        foreach (var type in FunctionClasses)
            Assert.That(ActivatorUtilities.CreateInstance(host.Services, type), Is.Not.Null, type.Name);
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "Flex gives start-up 30 s");

        var settings = host.Services.GetRequiredService<AzureHostSettings>();
        Assert.That(settings.Storage.Setting, Is.EqualTo("PipelineStorage"));
        Assert.That(settings.Storage.IsIdentityBased, Is.False);
        Assert.That(settings.KeyVaultUri, Is.Null, "an empty setting is no vault");
        Assert.That(settings.AwsRoleArn, Is.Null);
    }

    [Test]
    public void The_host_builds_with_the_settings_the_templates_deploy()
    {
        // What infra/app/functionapp.bicep sets: identity-based connections, the vault, the identity, telemetry.
        var settings = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage__blobServiceUri"] = "https://stexample.blob.core.windows.net/",
            ["AzureWebJobsStorage__queueServiceUri"] = "https://stexample.queue.core.windows.net/",
            ["AzureWebJobsStorage__tableServiceUri"] = "https://stexample.table.core.windows.net/",
            ["AzureWebJobsStorage__credential"] = "managedidentity",
            ["AzureWebJobsStorage__clientId"] = "00000000-0000-0000-0000-000000000001",
            ["PipelineStorage__blobServiceUri"] = "https://stexample.blob.core.windows.net/",
            ["PipelineStorage__queueServiceUri"] = "https://stexample.queue.core.windows.net/",
            ["PipelineStorage__tableServiceUri"] = "https://stexample.table.core.windows.net/",
            ["PipelineStorage__credential"] = "managedidentity",
            ["PipelineStorage__clientId"] = "00000000-0000-0000-0000-000000000001",
            ["Pipeline__KeyVaultUri"] = "https://kvexample.vault.azure.net/",
            ["AZURE_CLIENT_ID"] = "00000000-0000-0000-0000-000000000001",
            ["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/audience-export",
            ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = "InstrumentationKey=00000000-0000-0000-0000-000000000002;IngestionEndpoint=https://example.in.applicationinsights.azure.com/",
            ["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] = "Authorization=AAD;ClientId=00000000-0000-0000-0000-000000000001",
        };
        using var host = AppHost.Build(settings);
        foreach (var type in FunctionClasses) Assert.That(ActivatorUtilities.CreateInstance(host.Services, type), Is.Not.Null, type.Name);

        var read = host.Services.GetRequiredService<AzureHostSettings>();
        Assert.That(read.Storage.IsIdentityBased, Is.True);
        Assert.That(read.Storage.Describe, Does.Contain("managed identity (client id 00000000-0000-0000-0000-000000000001)"));
        Assert.That(read.KeyVaultUri, Is.EqualTo(new Uri("https://kvexample.vault.azure.net/")));
        Assert.That(read.AwsRoleArn, Is.EqualTo("arn:aws:iam::123456789012:role/audience-export"));
        Assert.That(read.ManagedIdentityClientId, Is.EqualTo("00000000-0000-0000-0000-000000000001"));
        Assert.That(host.Services.GetService<Microsoft.ApplicationInsights.TelemetryClient>(), Is.Not.Null, "telemetry is on when its connection string is set");
    }

    [Test]
    public void Without_PipelineStorage_resolving_a_function_names_the_setting_and_the_fix()
    {
        var settings = AppHost.SampleSettings();
        settings.Remove("PipelineStorage");
        using var host = AppHost.Build(settings);
        var error = Assert.Throws<StorageConnectionException>(() => host.Create<StageFunctions>());
        Assert.That(error!.Message, Does.Contain("PipelineStorage is not set").And.Contain("Fix: set PipelineStorage"));
    }

    [TestCase("Pipeline__KeyVaultUri", "http://vault.example/", "Pipeline__KeyVaultUri is not an https URL")]
    [TestCase("AZURE_CLIENT_ID", "not-a-guid", "AZURE_CLIENT_ID is not a GUID")]
    [TestCase("AWS_ROLE_ARN", "audience-export", "AWS_ROLE_ARN is not an ARN")]
    [TestCase("Pipeline__StaleUploadAge", "02:00:00", "Pipeline__StaleUploadAge is not a duration of at least a day")]
    public void A_malformed_setting_is_refused_by_name(string name, string value, string message)
    {
        var settings = AppHost.SampleSettings();
        settings[name] = value;
        var error = Assert.Throws<ArgumentException>(() => AzureHostSettings.Read(settings));
        Assert.That(error!.Message, Does.Contain(message).And.Contain("Fix:"));
    }

    [Test]
    public void Telemetry_is_off_without_a_connection_string()
    {
        using var host = AppHost.Build(AppHost.SampleSettings());
        Assert.That(host.Services.GetService<Microsoft.ApplicationInsights.TelemetryClient>(), Is.Null);
    }
}
