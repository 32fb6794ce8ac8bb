using System.Net;
using System.Net.Sockets;

namespace Pipeline.TestKit.Emulators;

/// <summary>
/// A loopback TCP forwarder in front of a service (Azurite's three ports, say) that can be taken down and brought back.
/// Down, it is what a stopped service looks like to a client: open connections are reset, and new ones are reset as
/// soon as they are accepted. It keeps its ports while down (a port given back for 20 s can be taken by another
/// process on a busy machine), and the service behind it keeps its state, so an outage test depends neither on a free
/// port staying free nor on the emulator persisting its data across a restart.
/// </summary>
public sealed class OutageProxy : IAsyncDisposable
{
    private readonly List<TcpListener> _listeners = [];
    private readonly List<Task> _accepting = [];
    private readonly HashSet<TcpClient> _connections = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private bool _down;

    /// <param name="upstreams">The loopback ports to forward to; the proxy listens on as many free ports, in the same order.</param>
    public OutageProxy(IReadOnlyList<int> upstreams)
    {
        ArgumentNullException.ThrowIfNull(upstreams);
        var ports = new List<int>();
        foreach (var upstream in upstreams)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            ports.Add(((IPEndPoint)listener.LocalEndpoint).Port);
            _listeners.Add(listener);
            _accepting.Add(AcceptAsync(listener, upstream, _disposed.Token));
        }
        Ports = ports;
    }

    /// <summary>The ports clients connect to, one per upstream port.</summary>
    public IReadOnlyList<int> Ports { get; }

    /// <summary>Connections forwarded so far (a client that never connected proves nothing about an outage).</summary>
    public int Forwarded { get; private set; }

    /// <summary>Connections reset because the proxy was down.</summary>
    public int Refused { get; private set; }

    /// <summary>Resets every open connection, and every new one until <see cref="ComeBack"/>.</summary>
    public void GoDown()
    {
        TcpClient[] open;
        lock (_gate)
        {
            _down = true;
            open = [.. _connections];
            _connections.Clear();
        }
        foreach (var connection in open) Reset(connection);
    }

    /// <summary>Forwards new connections again.</summary>
    public void ComeBack()
    {
        lock (_gate) _down = false;
    }

    private static void Reset(TcpClient connection)
    {
        // Linger 0 turns the close into a reset, as a process that died would leave it.
        // Client is null once the connection was disposed by its own forwarder.
        try { connection.Client?.LingerState = new LingerOption(true, 0); }
        catch (Exception e) when (e is ObjectDisposedException or SocketException) { }
        connection.Dispose();
    }

    private async Task AcceptAsync(TcpListener listener, int upstream, CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            // A client that gave up while queued for accept (a reset, a refused retry): the listener is fine, go on.
            catch (SocketException) when (!token.IsCancellationRequested) { continue; }
            catch (SocketException) { return; }
            _ = ForwardAsync(client, upstream, token);
        }
    }

    private async Task ForwardAsync(TcpClient client, int upstreamPort, CancellationToken token)
    {
        var upstream = new TcpClient();
        lock (_gate)
        {
            if (_down)
            {
                Refused++;
                Reset(client);
                upstream.Dispose();
                return;
            }
            _connections.Add(client);
            _connections.Add(upstream);
            Forwarded++;
        }
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, upstreamPort, token);
            var there = client.GetStream().CopyToAsync(upstream.GetStream(), token);
            var back = upstream.GetStream().CopyToAsync(client.GetStream(), token);
            // A side that finished sending is passed on as a half-close, so the other side still delivers its answer.
            if (await Task.WhenAny(there, back) == there)
            {
                await there;
                upstream.Client.Shutdown(SocketShutdown.Send);
                await back;
            }
            else
            {
                await back;
                client.Client.Shutdown(SocketShutdown.Send);
                await there;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // One side went away (or the proxy went down): close both.
        }
        finally
        {
            lock (_gate)
            {
                _connections.Remove(client);
                _connections.Remove(upstream);
            }
            client.Dispose();
            upstream.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync();
        foreach (var listener in _listeners) listener.Stop();
        GoDown();
        await Task.WhenAll(_accepting);
        _disposed.Dispose();
    }
}
