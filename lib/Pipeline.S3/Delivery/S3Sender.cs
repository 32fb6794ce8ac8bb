using Amazon.Runtime;
using Amazon.S3;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Clients;
using Pipeline.S3.Errors;
using Pipeline.S3.Resilience;

namespace Pipeline.S3.Delivery;

/// <summary>
/// Sends one destination's requests: a cached client with current credentials for each attempt, Polly
/// retries around it, and refusals a user must fix explained as <see cref="DestinationException"/>.
/// </summary>
internal sealed class S3Sender
{
    private readonly S3ClientFactory _clients;
    private readonly S3RetryPipeline _retry;

    public S3Sender(DestinationSpec destination, S3ClientFactory clients, S3RetryPipeline retry)
    {
        Destination = destination;
        _clients = clients;
        _retry = retry;
        Connection = clients.Resolve(destination);
        Requests = new S3Requests(destination, Connection);
    }

    public DestinationSpec Destination { get; }

    public S3Connection Connection { get; }

    public S3Requests Requests { get; }

    public string Bucket => Destination.Location;

    /// <summary>Sends with retries; refusals a user must fix become <see cref="DestinationException"/>, transient failures that outlast the retries are rethrown as they are.</summary>
    public async Task<T> SendAsync<T>(S3Call call, Func<IAmazonS3, CancellationToken, Task<T>> request, CancellationToken cancellationToken)
    {
        try
        {
            return await SendRawAsync(call, request, cancellationToken);
        }
        catch (AmazonServiceException e) when (TryExplain(e, call, out var explained))
        {
            throw explained;
        }
    }

    /// <summary>Sends with retries and leaves errors as the SDK raised them, for callers that expect some (NoSuchUpload, 404).</summary>
    public Task<T> SendRawAsync<T>(S3Call call, Func<IAmazonS3, CancellationToken, Task<T>> request, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(call, async ct => await request(await _clients.GetClientAsync(Destination, ct), ct), cancellationToken);

    public bool TryExplain(AmazonServiceException e, S3Call call, out DestinationException explained) =>
        S3Errors.TryExplain(e, call, Destination, Connection, out explained);

    public DestinationException Explain(AmazonServiceException e, S3Call call) =>
        new(S3Errors.Explain(e, call, Destination, Connection), e);
}
