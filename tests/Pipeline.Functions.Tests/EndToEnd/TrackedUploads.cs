using System.Collections.Concurrent;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>
/// Every upload the destinations really started, and how it ended (completed or aborted), so a test can tell that no
/// multipart upload is left behind. fauxqs cannot list uploads (ListMultipartUploads answers with an object listing),
/// so for <see cref="IExportDestination.AbortUnrecordedAsync"/> this stands in for S3's listing: it aborts the uploads
/// of that key it saw started, except the one to keep, then calls the real method.
/// </summary>
internal sealed class TrackedUploads
{
    private readonly ConcurrentDictionary<(string Key, string UploadId), string> _state = new();

    public IReadOnlyDictionary<(string Key, string UploadId), string> State => _state;

    public IEnumerable<(string Key, string UploadId)> Open => _state.Where(s => s.Value == "started").Select(s => s.Key);

    public IDestinationFactory Wrap(IDestinationFactory inner, Func<DestinationSpec, IExportDestination, IExportDestination>? change = null) =>
        new Factory(inner, this, change);

    private sealed class Factory(IDestinationFactory inner, TrackedUploads uploads, Func<DestinationSpec, IExportDestination, IExportDestination>? change) : IDestinationFactory
    {
        public bool CanOpen(string type) => inner.CanOpen(type);

        public IExportDestination Open(DestinationSpec spec)
        {
            var real = inner.Open(spec);
            return new Tracking(change is null ? real : change(spec, real), uploads);
        }
    }

    private sealed class Tracking(IExportDestination inner, TrackedUploads uploads) : IExportDestination
    {
        public string Describe(string key) => inner.Describe(key);

        public PartLimits PartLimits => inner.PartLimits;

        public async Task<string> StartFileAsync(string key, long length, ObjectProperties properties, CancellationToken cancellationToken) =>
            Started(key, await inner.StartFileAsync(key, length, properties, cancellationToken));

        public async Task<string> StartFileAsync(string runId, string key, long length, ObjectProperties properties, CancellationToken cancellationToken) =>
            Started(key, await inner.StartFileAsync(runId, key, length, properties, cancellationToken));

        private string Started(string key, string uploadId)
        {
            uploads._state.TryAdd((key, uploadId), "started");
            return uploadId;
        }

        public async Task AbortUnrecordedAsync(string runId, string key, string? keepUploadId, CancellationToken cancellationToken)
        {
            foreach (var (k, id) in uploads.Open.Where(u => u.Key == key && u.UploadId != keepUploadId).ToList())
                await AbortFileAsync(k, id, cancellationToken);
            await inner.AbortUnrecordedAsync(runId, key, keepUploadId, cancellationToken);
        }

        public Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
            inner.UploadPartAsync(key, uploadId, partNumber, offset, content, cancellationToken);

        public Task<PartReceipt> UploadPartAsync(string key, string uploadId, int partNumber, long offset, long length, PartReader read, CancellationToken cancellationToken) =>
            inner.UploadPartAsync(key, uploadId, partNumber, offset, length, read, cancellationToken);

        public async Task CompleteFileAsync(string key, string uploadId, IReadOnlyList<PartReceipt> parts, long length, CancellationToken cancellationToken)
        {
            await inner.CompleteFileAsync(key, uploadId, parts, length, cancellationToken);
            uploads._state[(key, uploadId)] = "completed";
        }

        public async Task AbortFileAsync(string key, string uploadId, CancellationToken cancellationToken)
        {
            await inner.AbortFileAsync(key, uploadId, cancellationToken);
            uploads._state.AddOrUpdate((key, uploadId), "aborted", (_, was) => was == "completed" ? was : "aborted");
        }

        public Task PutObjectAsync(string key, ReadOnlyMemory<byte> content, ObjectProperties properties, CancellationToken cancellationToken) =>
            inner.PutObjectAsync(key, content, properties, cancellationToken);

        public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => inner.ExistsAsync(key, cancellationToken);
    }
}
