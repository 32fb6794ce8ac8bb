using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>An HTTP request as it arrived on the wire, body included.</summary>
internal sealed record CapturedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public bool HasQuery(string name) =>
        Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries).Any(p => p.Split('=')[0] == name);

    public string? QueryValue(string name) =>
        Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
            .Where(p => p[0] == name).Select(p => p.Length > 1 ? Uri.UnescapeDataString(p[1]) : "").FirstOrDefault();

    public string BodyText => Encoding.UTF8.GetString(Body);

    public override string ToString() => $"{Method} {Path}{Query}";
}

/// <summary>What the server answers; <see cref="Drop"/> resets the connection instead.</summary>
internal sealed record StubResponse(int Status, IReadOnlyDictionary<string, string>? Headers = null, byte[]? Body = null)
{
    public static readonly StubResponse Drop = new(-1);

    public bool IsDrop => Status < 0;

    public static StubResponse Xml(int status, string xml, IReadOnlyDictionary<string, string>? headers = null)
    {
        var all = new Dictionary<string, string>(headers ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase) { ["Content-Type"] = "application/xml" };
        return new StubResponse(status, all, Encoding.UTF8.GetBytes(xml));
    }

    public static StubResponse Error(int status, string code, string message = "stub error", IReadOnlyDictionary<string, string>? headers = null, string extra = "") =>
        Xml(status, $"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{extra}<RequestId>stub</RequestId></Error>", headers);
}

/// <summary>
/// A small HTTP/1.1 server on a free loopback port: records every request and answers with a handler, which
/// may also reset the connection or hold the answer. The tests use it to look at what the SDK sends (headers
/// the emulators ignore), to play S3 errors, and as a fault-injecting proxy in front of an emulator.
/// </summary>
internal sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<CapturedRequest, CancellationToken, Task<StubResponse>> _handler;
    private readonly ConcurrentQueue<CapturedRequest> _requests = new();
    private readonly ConcurrentBag<TcpClient> _connections = [];
    private readonly Task _accepting;

    public LoopbackHttpServer(Func<CapturedRequest, CancellationToken, Task<StubResponse>> handler)
    {
        _handler = handler;
        _listener.Start();
        Endpoint = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _accepting = AcceptAsync();
    }

    public LoopbackHttpServer(Func<CapturedRequest, StubResponse> handler) : this((r, _) => Task.FromResult(handler(r)))
    {
    }

    public string Endpoint { get; }

    public IReadOnlyList<CapturedRequest> Requests => _requests.ToArray();

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                client.NoDelay = true;
                _connections.Add(client);
                _ = Task.Run(() => ServeAsync(client));
            }
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
        catch (SocketException) { }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            using (client)
            {
                var stream = client.GetStream();
                var reader = new HttpWireReader(stream);
                while (!_stop.IsCancellationRequested)
                {
                    var request = await reader.ReadRequestAsync(stream, _stop.Token);
                    if (request is null) return;
                    _requests.Enqueue(request);
                    var response = await _handler(request, _stop.Token);
                    if (response.IsDrop)
                    {
                        // RST, not FIN: the client sees a connection reset, as when a load balancer kills it.
                        client.Client.LingerState = new LingerOption(true, 0);
                        client.Client.Close();
                        return;
                    }
                    await WriteAsync(stream, request, response, _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the client went away or the server stops
        }
    }

    private static async Task WriteAsync(Stream stream, CapturedRequest request, StubResponse response, CancellationToken cancellationToken)
    {
        var body = response.Body ?? [];
        var head = new StringBuilder();
        head.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {response.Status} {Reason(response.Status)}\r\n");
        var headers = new Dictionary<string, string>(response.Headers ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase);
        headers.TryAdd("x-amz-request-id", "stub");
        headers.TryAdd("Date", DateTime.UtcNow.ToString("r", CultureInfo.InvariantCulture));
        // A HEAD answer may announce the object's length but carries no body.
        if (!headers.ContainsKey("Content-Length") || request.Method != "HEAD") headers["Content-Length"] = body.Length.ToString(CultureInfo.InvariantCulture);
        foreach (var (name, value) in headers) head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        head.Append("\r\n");
        // One write: a separate small write for the body would wait on Nagle and the client's delayed ACK.
        var headBytes = Encoding.ASCII.GetBytes(head.ToString());
        var sendBody = request.Method != "HEAD" ? body : [];
        var message = new byte[headBytes.Length + sendBody.Length];
        headBytes.CopyTo(message, 0);
        sendBody.CopyTo(message, headBytes.Length);
        await stream.WriteAsync(message, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK", 204 => "No Content", 301 => "Moved Permanently", 400 => "Bad Request", 403 => "Forbidden", 404 => "Not Found",
        405 => "Method Not Allowed", 500 => "Internal Server Error", 503 => "Service Unavailable", _ => "Status",
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var c in _connections) c.Dispose();
        await _accepting;
        _stop.Dispose();
    }
}

/// <summary>Reads HTTP/1.1 requests (Content-Length or chunked bodies; answers Expect: 100-continue) from one connection.</summary>
internal sealed class HttpWireReader(Stream stream)
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public async Task<CapturedRequest?> ReadRequestAsync(Stream output, CancellationToken cancellationToken)
    {
        var requestLine = await ReadLineAsync(cancellationToken);
        if (string.IsNullOrEmpty(requestLine)) return null;
        var parts = requestLine.Split(' ');
        var target = parts[1];
        var q = target.IndexOf('?', StringComparison.Ordinal);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (await ReadLineAsync(cancellationToken) is { Length: > 0 } line)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var existing) ? existing + "," + value : value;
        }
        if (headers.TryGetValue("Expect", out var expect) && expect.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
        {
            await output.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), cancellationToken);
            await output.FlushAsync(cancellationToken);
        }
        byte[] body;
        if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var collected = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(cancellationToken) ?? throw new IOException("truncated chunk");
                var size = int.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    while (await ReadLineAsync(cancellationToken) is { Length: > 0 }) { } // trailers
                    break;
                }
                collected.Write(await ReadExactAsync(size, cancellationToken));
                await ReadLineAsync(cancellationToken);
            }
            body = collected.ToArray();
        }
        else
        {
            var length = headers.TryGetValue("Content-Length", out var cl) ? long.Parse(cl, CultureInfo.InvariantCulture) : 0;
            body = await ReadExactAsync((int)length, cancellationToken);
        }
        return new CapturedRequest(parts[0], q < 0 ? target : target[..q], q < 0 ? "" : target[q..], headers, body);
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0 && _start == _end) _start = _end = 0;
        if (_end == _buffer.Length)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        _end += read;
        return read > 0;
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        while (true)
        {
            for (; _start < _end; _start++)
            {
                var b = _buffer[_start];
                if (b == '\n')
                {
                    _start++;
                    return line.ToString().TrimEnd('\r');
                }
                line.Append((char)b);
            }
            if (!await FillAsync(cancellationToken)) return line.Length == 0 ? null : line.ToString();
        }
    }

    private async Task<byte[]> ReadExactAsync(int count, CancellationToken cancellationToken)
    {
        var result = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            if (_start == _end && !await FillAsync(cancellationToken)) throw new IOException("connection closed mid-body");
            var take = Math.Min(count - filled, _end - _start);
            Array.Copy(_buffer, _start, result, filled, take);
            _start += take;
            filled += take;
        }
        return result;
    }
}
