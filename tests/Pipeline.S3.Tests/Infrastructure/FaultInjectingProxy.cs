using System.Collections.Concurrent;

namespace Pipeline.S3.Tests.Infrastructure;

internal enum Fault
{
    /// <summary>503 SlowDown without forwarding.</summary>
    SlowDown,
    /// <summary>500 InternalError without forwarding.</summary>
    InternalError,
    /// <summary>Connection reset before the request reaches the emulator.</summary>
    DropBeforeForwarding,
    /// <summary>Connection reset after the emulator handled the request: the work is done, the answer lost.</summary>
    DropAfterForwarding,
    /// <summary>The emulator's answer is held until the proxy stops (the client must time out).</summary>
    HoldAfterForwarding,
}

/// <summary>
/// A loopback proxy in front of an emulator that injects faults into the first N requests of a kind (an S3
/// operation recognised from method and query), and counts what reached the emulator. Every other request
/// is forwarded as it came, Host header included, so signatures stay valid.
/// </summary>
internal sealed class FaultInjectingProxy : IAsyncDisposable
{
    private readonly LoopbackHttpServer _server;
    private readonly HttpClient _upstream;
    private readonly Lock _gate = new();
    private readonly List<(string Kind, Fault Fault, int Remaining)> _active = [];
    private readonly ConcurrentQueue<(string Kind, Fault Fault)> _injected = new();
    private readonly ConcurrentQueue<string> _forwarded = new();
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly Func<CapturedRequest, CapturedRequest>? _rewrite;

    /// <param name="upstream">The emulator (or another proxy).</param>
    /// <param name="rewrite">Changes a request before it is forwarded (to paper over an emulator's parsing gaps).</param>
    public FaultInjectingProxy(string upstream, Func<CapturedRequest, CapturedRequest>? rewrite = null)
    {
        _rewrite = rewrite;
        _upstream = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = System.Net.DecompressionMethods.None })
        {
            BaseAddress = new Uri(upstream),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _server = new LoopbackHttpServer(HandleAsync);
    }

    public string Endpoint => _server.Endpoint;

    /// <summary>Every request the client sent, faulted or not.</summary>
    public IReadOnlyList<CapturedRequest> Received => _server.Requests;

    /// <summary>Operations that reached the emulator, in order.</summary>
    public IReadOnlyList<string> Forwarded => _forwarded.ToArray();

    public IReadOnlyList<(string Kind, Fault Fault)> Injected => _injected.ToArray();

    /// <summary>Completes when a request is being held (<see cref="Fault.HoldAfterForwarding"/>).</summary>
    public Task Holding => _holding.Task;

    /// <summary>The next <paramref name="times"/> requests of <paramref name="kind"/> (see <see cref="KindOf"/>) get <paramref name="fault"/>; rules of a kind apply in the order added.</summary>
    public FaultInjectingProxy Inject(string kind, Fault fault, int times = 1)
    {
        lock (_gate) _active.Add((kind, fault, times));
        return this;
    }

    /// <summary>The S3 operation a request is, from its method and query.</summary>
    public static string KindOf(CapturedRequest r) => r.Method switch
    {
        "POST" when r.HasQuery("uploads") => "CreateMultipartUpload",
        "PUT" when r.HasQuery("uploadId") => "UploadPart",
        "POST" when r.HasQuery("uploadId") => "CompleteMultipartUpload",
        "DELETE" when r.HasQuery("uploadId") => "AbortMultipartUpload",
        "PUT" => "PutObject",
        "HEAD" => "HeadObject",
        "GET" => "GetObject",
        _ => r.Method,
    };

    private Fault? Take(string kind)
    {
        lock (_gate)
        {
            var index = _active.FindIndex(r => r.Kind == kind && r.Remaining > 0);
            if (index < 0) return null;
            var rule = _active[index];
            _active[index] = rule with { Remaining = rule.Remaining - 1 };
            return rule.Fault;
        }
    }

    private async Task<StubResponse> HandleAsync(CapturedRequest request, CancellationToken cancellationToken)
    {
        var kind = KindOf(request);
        var fault = Take(kind);
        if (fault is { } f) _injected.Enqueue((kind, f));
        switch (fault)
        {
            case Fault.SlowDown: return StubResponse.Error(503, "SlowDown", "Please reduce your request rate.");
            case Fault.InternalError: return StubResponse.Error(500, "InternalError", "We encountered an internal error. Please try again.");
            case Fault.DropBeforeForwarding: return StubResponse.Drop;
        }
        var response = await ForwardAsync(_rewrite?.Invoke(request) ?? request, cancellationToken);
        _forwarded.Enqueue(kind);
        switch (fault)
        {
            case Fault.DropAfterForwarding:
                return StubResponse.Drop;
            case Fault.HoldAfterForwarding:
                _holding.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return StubResponse.Drop;
            default:
                return response;
        }
    }

    private async Task<StubResponse> ForwardAsync(CapturedRequest request, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path + request.Query);
        var content = new ByteArrayContent(request.Body);
        foreach (var (name, value) in request.Headers)
        {
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase)) message.Headers.Host = value;
            else if (name is "Content-Length" or "Transfer-Encoding" or "Connection" or "Expect") continue;
            else if (!message.Headers.TryAddWithoutValidation(name, value)) content.Headers.TryAddWithoutValidation(name, value);
        }
        message.Content = content;
        using var response = await _upstream.SendAsync(message, cancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (name is "Transfer-Encoding" or "Connection" or "Keep-Alive") continue;
            headers[name] = string.Join(",", values);
        }
        return new StubResponse((int)response.StatusCode, headers, body);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _upstream.Dispose();
    }
}
