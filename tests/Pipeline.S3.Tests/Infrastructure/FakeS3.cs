using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>
/// Answers like S3 for the requests the destination, sweeper and probe send, and records them: for
/// request-shape tests (what emulators ignore) and for S3 errors the emulators cannot play. <see cref="Override"/>
/// answers instead when it returns a response. Part bodies are not kept; objects only by length.
/// </summary>
internal sealed class FakeS3 : IAsyncDisposable
{
    private readonly LoopbackHttpServer _server;
    private int _uploads;

    public FakeS3(string region = "us-east-1")
    {
        Region = region;
        _server = new LoopbackHttpServer(Answer);
    }

    public string Endpoint => _server.Endpoint;

    public string Region { get; }

    public IReadOnlyList<CapturedRequest> Requests => _server.Requests;

    /// <summary>Answers a request instead of the fake when it returns non-null.</summary>
    public Func<CapturedRequest, StubResponse?>? Override { get; set; }

    /// <summary>Object lengths by key (path after the bucket), as HEAD reports them.</summary>
    public ConcurrentDictionary<string, long> Objects { get; } = new();

    /// <summary>Pages ListMultipartUploads returns, in order; each is (key, upload id, initiated).</summary>
    public List<IReadOnlyList<(string Key, string UploadId, DateTimeOffset? Initiated)>> UploadPages { get; } = [];

    private StubResponse Answer(CapturedRequest r)
    {
        if (Override?.Invoke(r) is { } overridden) return overridden;
        var segments = r.Path.TrimStart('/').Split('/', 2);
        var bucket = segments[0];
        var key = segments.Length > 1 ? Uri.UnescapeDataString(segments[1]) : "";
        switch (r.Method)
        {
            case "POST" when r.HasQuery("uploads"):
                var id = $"upload-{Interlocked.Increment(ref _uploads)}";
                return StubResponse.Xml(200, $"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>");
            case "PUT" when r.HasQuery("uploadId"):
                return new StubResponse(200, new Dictionary<string, string> { ["ETag"] = Quoted(Md5(r.Body)) });
            case "POST" when r.HasQuery("uploadId"):
                Objects[key] = r.Header("x-amz-mp-object-size") is { } size ? long.Parse(size, CultureInfo.InvariantCulture) : 0;
                return StubResponse.Xml(200, $"<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>\"{Md5(r.Body)}-1\"</ETag></CompleteMultipartUploadResult>");
            case "DELETE" when r.HasQuery("uploadId"):
                return new StubResponse(204);
            case "PUT" when key.Length > 0:
                Objects[key] = r.Header("x-amz-decoded-content-length") is { } decoded ? long.Parse(decoded, CultureInfo.InvariantCulture) : r.Body.Length;
                return new StubResponse(200, new Dictionary<string, string> { ["ETag"] = Quoted(Md5(r.Body)) });
            case "HEAD" when key.Length > 0:
                return Objects.TryGetValue(key, out var length)
                    ? new StubResponse(200, new Dictionary<string, string> { ["Content-Length"] = length.ToString(CultureInfo.InvariantCulture), ["ETag"] = "\"0123456789abcdef0123456789abcdef\"" })
                    : new StubResponse(404);
            case "HEAD":
                return new StubResponse(200, new Dictionary<string, string> { ["x-amz-bucket-region"] = Region });
            case "DELETE" when key.Length > 0:
                Objects.TryRemove(key, out _);
                return new StubResponse(204);
            case "GET" when r.HasQuery("location"):
                return StubResponse.Xml(200, $"<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{(Region == "us-east-1" ? "" : Region)}</LocationConstraint>");
            case "GET" when r.HasQuery("uploads"):
                return ListUploads(bucket, r);
            default:
                return StubResponse.Error(400, "NotImplementedInFake", $"FakeS3 does not answer {r}");
        }
    }

    private StubResponse ListUploads(string bucket, CapturedRequest r)
    {
        // The page after the one that ended at the request's key marker (pages are numbered by their last key).
        var marker = r.QueryValue("key-marker");
        var index = string.IsNullOrEmpty(marker) ? 0 : UploadPages.FindIndex(p => p.Count > 0 && p[^1].Key == marker) + 1;
        var page = index < UploadPages.Count ? UploadPages[index] : [];
        var truncated = index < UploadPages.Count - 1;
        var xml = new StringBuilder($"<ListMultipartUploadsResult><Bucket>{bucket}</Bucket><Prefix>{r.QueryValue("prefix")}</Prefix><MaxUploads>1000</MaxUploads>");
        xml.Append(CultureInfo.InvariantCulture, $"<IsTruncated>{(truncated ? "true" : "false")}</IsTruncated>");
        if (truncated && page.Count > 0)
            xml.Append(CultureInfo.InvariantCulture, $"<NextKeyMarker>{page[^1].Key}</NextKeyMarker><NextUploadIdMarker>{page[^1].UploadId}</NextUploadIdMarker>");
        foreach (var (key, uploadId, initiated) in page)
        {
            xml.Append(CultureInfo.InvariantCulture, $"<Upload><Key>{key}</Key><UploadId>{uploadId}</UploadId>");
            if (initiated is { } at) xml.Append(CultureInfo.InvariantCulture, $"<Initiated>{at.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}</Initiated>");
            xml.Append("<StorageClass>STANDARD</StorageClass></Upload>");
        }
        xml.Append("</ListMultipartUploadsResult>");
        return StubResponse.Xml(200, xml.ToString());
    }

#pragma warning disable CA5351 // S3 ETags are MD5s
    private static string Md5(byte[] body) => Convert.ToHexStringLower(MD5.HashData(body));
#pragma warning restore CA5351

    private static string Quoted(string s) => $"\"{s}\"";

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
