using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>
/// Answers like S3 for the requests the destination, sweeper and probe send, and records them: for
/// request-shape tests (what emulators ignore) and for S3 errors the emulators cannot play. <see cref="Override"/>
/// answers instead when it returns a response. Bodies are decoded (aws-chunked included) and kept only as their
/// length, MD5 and SHA-256, from which ETags and checksums are computed the way S3 does.
/// </summary>
internal sealed partial class FakeS3 : IAsyncDisposable
{
    private readonly LoopbackHttpServer _server;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<int, StoredBytes>> _uploads = new();
    private readonly ConcurrentDictionary<string, bool> _uploadChecksums = new();
    private int _uploadCount;

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

    /// <summary>Changes the fake's own answer (after it stored what it received), to play a store that answers wrongly.</summary>
    public Func<CapturedRequest, StubResponse, StubResponse>? Tamper { get; set; }

    /// <summary>Objects by key (path after the bucket), as HEAD reports them.</summary>
    public ConcurrentDictionary<string, StoredObject> Objects { get; } = new();

    /// <summary>Pages ListMultipartUploads returns, in order; each is (key, upload id, initiated).</summary>
    public List<IReadOnlyList<(string Key, string UploadId, DateTimeOffset? Initiated)>> UploadPages { get; } = [];

    private sealed record StoredBytes(long Length, byte[] Md5, byte[] Sha256);

    /// <summary>An object as S3 would describe it: length, ETag (unquoted) and SHA-256 checksum (composite "…-N" for multipart), if one was sent.</summary>
    public sealed record StoredObject(long Length, string ETag, string? Sha256Base64);

    private StubResponse Answer(CapturedRequest r)
    {
        if (Override?.Invoke(r) is { } overridden) return overridden;
        var answer = AnswerLikeS3(r);
        return Tamper is null ? answer : Tamper(r, answer);
    }

    private StubResponse AnswerLikeS3(CapturedRequest r)
    {
        var segments = r.Path.TrimStart('/').Split('/', 2);
        var bucket = segments[0];
        var key = segments.Length > 1 ? Uri.UnescapeDataString(segments[1]) : "";
        switch (r.Method)
        {
            case "POST" when r.HasQuery("uploads"):
                var id = $"upload-{Interlocked.Increment(ref _uploadCount)}";
                _uploads[id] = new ConcurrentDictionary<int, StoredBytes>();
                _uploadChecksums[id] = r.Header("x-amz-checksum-algorithm") is not null;
                return StubResponse.Xml(200, $"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>");
            case "PUT" when r.HasQuery("uploadId"):
                var part = Store(r);
                if (_uploads.TryGetValue(r.QueryValue("uploadId")!, out var parts)) parts[int.Parse(r.QueryValue("partNumber")!, CultureInfo.InvariantCulture)] = part;
                return new StubResponse(200, new Dictionary<string, string> { ["ETag"] = Quoted(Hex(part.Md5)) });
            case "POST" when r.HasQuery("uploadId"):
                return Complete(bucket, key, r);
            case "DELETE" when r.HasQuery("uploadId"):
                _uploads.TryRemove(r.QueryValue("uploadId")!, out _);
                return new StubResponse(204);
            case "PUT" when key.Length > 0:
                var put = Store(r);
                var sha = r.Header("x-amz-checksum-sha256") is not null || r.Header("x-amz-trailer") is not null ? Convert.ToBase64String(put.Sha256) : null;
                Objects[key] = new StoredObject(put.Length, Hex(put.Md5), sha);
                var headers = new Dictionary<string, string> { ["ETag"] = Quoted(Hex(put.Md5)) };
                if (sha is not null) headers["x-amz-checksum-sha256"] = sha;
                return new StubResponse(200, headers);
            case "HEAD" when key.Length > 0:
                if (!Objects.TryGetValue(key, out var stored)) return new StubResponse(404);
                var head = new Dictionary<string, string> { ["Content-Length"] = stored.Length.ToString(CultureInfo.InvariantCulture), ["ETag"] = Quoted(stored.ETag) };
                if (r.Header("x-amz-checksum-mode") == "ENABLED" && stored.Sha256Base64 is { } checksum)
                {
                    head["x-amz-checksum-sha256"] = checksum;
                    head["x-amz-checksum-type"] = checksum.Contains('-', StringComparison.Ordinal) ? "COMPOSITE" : "FULL_OBJECT";
                }
                return new StubResponse(200, head);
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

    /// <summary>Stitches the listed parts like S3: ETag "MD5 of the binary part MD5s-N", composite SHA-256 when the upload was created with one.</summary>
    private StubResponse Complete(string bucket, string key, CapturedRequest r)
    {
        var id = r.QueryValue("uploadId")!;
        if (!_uploads.TryRemove(id, out var uploaded)) return StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist.");
        var numbers = PartNumber().Matches(r.BodyText).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        if (numbers.Count == 0 || numbers.Any(n => !uploaded.ContainsKey(n))) return StubResponse.Error(400, "InvalidPart", "One or more of the specified parts could not be found.");
        var parts = numbers.Select(n => uploaded[n]).ToList();
        var etag = Hex(Md5Of(parts.SelectMany(p => p.Md5).ToArray())) + "-" + parts.Count.ToString(CultureInfo.InvariantCulture);
        var sha = _uploadChecksums.TryGetValue(id, out var withChecksum) && withChecksum
            ? Convert.ToBase64String(SHA256.HashData(parts.SelectMany(p => p.Sha256).ToArray())) + "-" + parts.Count.ToString(CultureInfo.InvariantCulture)
            : null;
        Objects[key] = new StoredObject(parts.Sum(p => p.Length), etag, sha);
        var checksum = sha is null ? "" : $"<ChecksumSHA256>{sha}</ChecksumSHA256>";
        return StubResponse.Xml(200, $"<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>\"{etag}\"</ETag>{checksum}</CompleteMultipartUploadResult>");
    }

    private static StoredBytes Store(CapturedRequest r)
    {
        var body = DecodedBody(r);
        return new StoredBytes(body.Length, Md5Of(body), SHA256.HashData(body));
    }

    /// <summary>The object bytes of a PUT: aws-chunked framing ("SIZE[;chunk-signature=…]\r\nDATA\r\n" … "0…", then trailers) removed.</summary>
    public static byte[] DecodedBody(CapturedRequest r)
    {
        var chunked = (r.Header("Content-Encoding") ?? "").Contains("aws-chunked", StringComparison.Ordinal)
                      || (r.Header("x-amz-content-sha256") ?? "").StartsWith("STREAMING-", StringComparison.Ordinal);
        if (!chunked) return r.Body;
        var body = r.Body;
        using var data = new MemoryStream();
        var at = 0;
        while (true)
        {
            var lineEnd = body.AsSpan(at).IndexOf("\r\n"u8);
            if (lineEnd < 0) throw new InvalidDataException($"FakeS3: bad aws-chunked body in {r}");
            var header = Encoding.ASCII.GetString(body, at, lineEnd);
            var size = Convert.ToInt32(header.Split(';')[0], 16);
            at += lineEnd + 2;
            if (size == 0) return data.ToArray();
            data.Write(body, at, size);
            at += size + 2;
        }
    }

    [GeneratedRegex("<PartNumber>([0-9]+)</PartNumber>")]
    private static partial Regex PartNumber();

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
    private static byte[] Md5Of(byte[] bytes) => MD5.HashData(bytes);
#pragma warning restore CA5351

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    private static string Quoted(string s) => $"\"{s}\"";

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
