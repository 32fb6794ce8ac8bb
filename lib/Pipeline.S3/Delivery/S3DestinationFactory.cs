using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Clients;
using Pipeline.S3.Credentials;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Delivery;

/// <summary>
/// Opens "s3" destinations. One factory per process: it owns the cached SDK clients and the retry pipeline
/// that every destination, the stale-upload sweeper and the probe share.
/// </summary>
public sealed class S3DestinationFactory : IDestinationFactory, IDisposable
{
    private readonly ILoggerFactory _loggers;

    public S3DestinationFactory(IS3CredentialSource credentials, ILoggerFactory loggers, TimeProvider time, S3RetryOptions? retry = null,
        Func<string, string?>? environment = null)
    {
        var options = (retry ?? new S3RetryOptions()).Validate();
        _loggers = loggers;
        Time = time;
        Clients = new S3ClientFactory(credentials, options, environment);
        Retry = new S3RetryPipeline(options, time, loggers.CreateLogger<S3RetryPipeline>());
    }

    public S3ClientFactory Clients { get; }

    internal S3RetryPipeline Retry { get; }

    internal TimeProvider Time { get; }

    internal ILoggerFactory Loggers => _loggers;

    public bool CanOpen(string type) => type == DestinationSpec.S3Type;

    public IExportDestination Open(DestinationSpec spec) => OpenS3(spec);

    public S3Destination OpenS3(DestinationSpec spec)
    {
        if (spec.Type != DestinationSpec.S3Type)
            throw new ArgumentException($"Destination \"{spec.Name}\" has type \"{spec.Type}\", not \"{DestinationSpec.S3Type}\".", nameof(spec));
        return new S3Destination(Sender(spec), _loggers.CreateLogger<S3Destination>());
    }

    internal S3Sender Sender(DestinationSpec spec) => new(spec, Clients, Retry);

    public void Dispose() => Clients.Dispose();
}
