using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using Pipeline.Hosting;

namespace Pipeline.Functions;

/// <summary>
/// The app's one <see cref="AzureBackend"/>, opened on first use and shared by every function on the instance. Opening
/// creates missing tables and containers (network I/O), so it is not done while the host starts; a failed open is not
/// kept, so the next invocation tries again.
/// </summary>
public sealed partial class PipelineBackend(AzureHostSettings settings, AzureBackendOptions options, ILoggerFactory loggers) : IDisposable
{
    private readonly SemaphoreSlim _opening = new(1, 1);
    private PipelineAdapters? _adapters;
    private volatile AzureBackend? _backend;

    public AzureHostSettings Settings => settings;

    public TimeProvider Time => options.Time;

    private PipelineConfig? _lastConfig;

    /// <summary>
    /// True the first time a config is seen (the published config hands back the same object while the blob is
    /// unchanged), so what is said about a config is said once per version, not every minute.
    /// </summary>
    public bool IsNewConfig(PipelineConfig config) => !ReferenceEquals(Interlocked.Exchange(ref _lastConfig, config), config);

    public async Task<AzureBackend> GetAsync(CancellationToken cancellationToken)
    {
        if (_backend is { } open) return open;
        await _opening.WaitAsync(cancellationToken);
        try
        {
            if (_backend is { } opened) return opened;
            _adapters ??= new PipelineAdapters(new SecretsSpec(), loggers, settings.ToAdapterOptions(options.Time));
            _backend = await AzureBackend.OpenAsync(settings.Storage, _adapters, loggers, options, cancellationToken);
            Log.Opened(loggers.CreateLogger<PipelineBackend>(), settings.Storage.Describe);
            return _backend;
        }
        finally
        {
            _opening.Release();
        }
    }

    public void Dispose()
    {
        _adapters?.Dispose();
        _opening.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Information, "Pipeline backend opened on {Storage}")]
        public static partial void Opened(ILogger logger, string storage);
    }
}
