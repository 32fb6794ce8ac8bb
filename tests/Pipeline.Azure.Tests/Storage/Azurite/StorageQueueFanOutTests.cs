using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Queues;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Runs;

namespace Pipeline.Azure.Tests.Storage.Azurite;

[Category("Integration")]
public sealed class StorageQueueFanOutTests
{
    [Test]
    public async Task A_fan_out_is_sent_with_several_requests_in_flight_and_never_more_than_the_bound()
    {
        var probe = new InFlightProbe();
        var options = StageQueues.ClientOptions();
        options.AddPolicy(probe, HttpPipelinePosition.PerCall);
        var service = new QueueServiceClient(AzuriteSetUp.Endpoints.ConnectionString, options);
        await service.GetQueueClient(StageQueues.UploadPart).CreateIfNotExistsAsync();
        await service.GetQueueClient(StageQueues.UploadPart).ClearMessagesAsync();
        var parts = Enumerable.Range(1, 500).Select(p => (StageMessage)new UploadPart("fan-out", 1, p)).ToList();

        await new StorageQueueWorkQueue(service).EnqueueAsync(parts, CancellationToken.None);

        Assert.That(probe.MostInFlight, Is.GreaterThan(1).And.LessThanOrEqualTo(StorageQueueWorkQueue.SendConcurrency));
        var properties = (await service.GetQueueClient(StageQueues.UploadPart).GetPropertiesAsync()).Value;
        Assert.That(properties.ApproximateMessagesCount, Is.EqualTo(500));
    }

    /// <summary>Counts requests in flight at once through the client's pipeline.</summary>
    private sealed class InFlightProbe : HttpPipelinePolicy
    {
        private int _inFlight;
        private int _most;

        public int MostInFlight => Volatile.Read(ref _most);

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
            throw new NotSupportedException("The queue is used asynchronously.");

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            var now = Interlocked.Increment(ref _inFlight);
            int most;
            while (now > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, now, most) != most) { }
            try { await ProcessNextAsync(message, pipeline); }
            finally { Interlocked.Decrement(ref _inFlight); }
        }
    }
}
