using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Pipeline.Tests.Stubs;

/// <summary>One HTTP request as the stub received it.</summary>
internal sealed record StubRequest(string Method, string Target, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Path => Target.Split('?', 2)[0];

    public IReadOnlyDictionary<string, string> Query => ParseForm(Target.Contains('?', StringComparison.Ordinal) ? Target.Split('?', 2)[1] : "");

    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>An application/x-www-form-urlencoded body (STS Query protocol, OAuth token requests).</summary>
    public IReadOnlyDictionary<string, string> Form => ParseForm(BodyText);

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    private static Dictionary<string, string> ParseForm(string text) =>
        text.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), p => p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "", StringComparer.Ordinal);
}

/// <summary>What the stub answers.</summary>
internal sealed record StubResponse(int Status, string Body = "", string ContentType = "text/plain", IReadOnlyDictionary<string, string>? Headers = null)
{
    public static StubResponse Json(int status, string json, IReadOnlyDictionary<string, string>? headers = null) => new(status, json, "application/json; charset=utf-8", headers);

    public static StubResponse Xml(int status, string xml) => new(status, xml, "text/xml");
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 and a free port (the OS picks it), plain or TLS, so the real
/// AWS and Azure SDK clients talk to a stub over real sockets. Handles keep-alive, Content-Length and
/// chunked request bodies, and Expect: 100-continue; answers with Content-Length.
/// </summary>
internal sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<StubRequest, Task<StubResponse>> _handler;
    private readonly X509Certificate2? _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<TcpClient, Task> _connections = new();
    private readonly Task _accepting;

    public LoopbackHttpServer(Func<StubRequest, Task<StubResponse>> handler, X509Certificate2? certificate = null)
    {
        _handler = handler;
        _certificate = certificate;
        _listener.Start();
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        BaseUri = new Uri($"{(certificate is null ? "http" : "https")}://127.0.0.1:{port}/");
        _accepting = AcceptAsync();
    }

    public Uri BaseUri { get; }

    public ConcurrentQueue<StubRequest> Requests { get; } = new();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var client in _connections.Keys) client.Dispose();
        try { await Task.WhenAll(_connections.Values.Append(_accepting)); } catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException) { }
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            _connections[client] = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            using (client)
            {
                Stream stream = client.GetStream();
                if (_certificate is not null)
                {
                    var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                    stream = tls;
                }
                await using (stream)
                {
                    var reader = new RequestReader(stream);
                    while (!_stop.IsCancellationRequested)
                    {
                        var request = await reader.ReadAsync(_stop.Token);
                        if (request is null) return;
                        Requests.Enqueue(request);
                        StubResponse response;
                        try { response = await _handler(request); }
                        catch (Exception e) { response = new StubResponse(500, "stub failed: " + e); }
                        await WriteAsync(stream, response, _stop.Token);
                        if (string.Equals(request.Header("Connection"), "close", StringComparison.OrdinalIgnoreCase)) return;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException or System.Security.Authentication.AuthenticationException) { }
        finally
        {
            _connections.TryRemove(client, out _);
        }
    }

    private static async Task WriteAsync(Stream stream, StubResponse response, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes(response.Body);
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {response.Status} {Reason(response.Status)}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Date: {DateTime.UtcNow:R}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Type: {response.ContentType}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n");
        foreach (var (name, value) in response.Headers ?? new Dictionary<string, string>()) head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), cancellationToken);
        await stream.WriteAsync(body, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    private static string Reason(int status) => status switch
    {
        100 => "Continue", 200 => "OK", 400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found", 500 => "Internal Server Error",
        _ => "Status",
    };

    /// <summary>Reads requests off one connection, keeping bytes that arrived past the current request.</summary>
    private sealed class RequestReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        public async Task<StubRequest?> ReadAsync(CancellationToken cancellationToken)
        {
            var requestLine = await ReadLineAsync(cancellationToken);
            if (string.IsNullOrEmpty(requestLine)) return null;
            var parts = requestLine.Split(' ');
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while (await ReadLineAsync(cancellationToken) is { Length: > 0 } line)
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                headers[name] = headers.TryGetValue(name, out var earlier) ? earlier + "," + value : value;
            }
            if (string.Equals(headers.GetValueOrDefault("Expect"), "100-continue", StringComparison.OrdinalIgnoreCase))
            {
                await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), cancellationToken);
                await stream.FlushAsync(cancellationToken);
            }
            byte[] body;
            if (string.Equals(headers.GetValueOrDefault("Transfer-Encoding"), "chunked", StringComparison.OrdinalIgnoreCase))
            {
                using var collected = new MemoryStream();
                while (true)
                {
                    var size = int.Parse((await ReadLineAsync(cancellationToken) ?? "0").Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (size == 0) { while (await ReadLineAsync(cancellationToken) is { Length: > 0 }) { } break; }
                    collected.Write(await ReadExactlyAsync(size, cancellationToken));
                    await ReadLineAsync(cancellationToken);
                }
                body = collected.ToArray();
            }
            else
            {
                body = await ReadExactlyAsync(int.Parse(headers.GetValueOrDefault("Content-Length") ?? "0", CultureInfo.InvariantCulture), cancellationToken);
            }
            return new StubRequest(parts[0], parts[1], headers, body);
        }

        private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline >= 0)
                {
                    var line = Encoding.ASCII.GetString(_buffer, _start, newline - _start).TrimEnd('\r');
                    _start = newline + 1;
                    return line;
                }
                if (!await FillAsync(cancellationToken)) return null;
            }
        }

        private async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
        {
            var result = new byte[count];
            var filled = 0;
            while (filled < count)
            {
                if (_start == _end && !await FillAsync(cancellationToken)) throw new IOException("Connection closed inside a request body.");
                var take = Math.Min(count - filled, _end - _start);
                Array.Copy(_buffer, _start, result, filled, take);
                _start += take;
                filled += take;
            }
            return result;
        }

        private async Task<bool> FillAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length) throw new IOException("Request line or header too long for the stub.");
            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            _end += read;
            return read > 0;
        }
    }
}
