using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Pipeline.Hosting;

namespace Pipeline.Functions;

/// <summary>The app's composition: the Azure backend from <c>Pipeline.Hosting</c> (shared with the CLI), and telemetry.</summary>
public static class PipelineFunctionsSetup
{
    /// <summary>The Application Insights connection string; telemetry is on only when it is set.</summary>
    public const string AppInsightsConnectionSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    public static FunctionsApplicationBuilder AddPipelineFunctions(this FunctionsApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddPipelineFunctions(builder.Configuration);
        return builder;
    }

    /// <summary>
    /// Registers the backend as a lazily opened singleton: building the host does no network I/O (Flex gives start-up
    /// 30 s), and the settings are read and checked when the first function asks for the backend.
    /// </summary>
    public static IServiceCollection AddPipelineFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(provider => AzureHostSettings.Read(configuration.AsEnumerable()));
        services.TryAddSingleton(provider => new AzureBackendOptions { Time = provider.GetRequiredService<TimeProvider>() });
        services.TryAddSingleton<PipelineBackend>();
        if (!string.IsNullOrWhiteSpace(configuration[AppInsightsConnectionSetting]))
        {
            // Straight from the worker to Application Insights, with Entra auth when APPLICATIONINSIGHTS_AUTHENTICATION_STRING is set.
            services.AddApplicationInsightsTelemetryWorkerService();
            services.ConfigureFunctionsApplicationInsights();
            // The SDK's default rule keeps only warnings from the worker; the app's own log levels decide instead.
            services.Configure<LoggerFilterOptions>(options =>
            {
                var sdkDefault = options.Rules.FirstOrDefault(rule =>
                    rule.ProviderName == "Microsoft.Extensions.Logging.ApplicationInsights.ApplicationInsightsLoggerProvider");
                if (sdkDefault is not null) options.Rules.Remove(sdkDefault);
            });
        }
        return services;
    }
}
