using System.Diagnostics;
using System.Reflection;
using System.Runtime.ExceptionServices;

namespace Pipeline.Local.Tests;

/// <summary>
/// Stands in for a port (run store, destination) and "kills the process" right after the Nth call of one method
/// completes: the call's effect is kept, the crash token is cancelled, and every later call through the port throws,
/// as if nothing after that line ran.
/// </summary>
public static class CrashPoint
{
    public static TPort Wrap<TPort>(TPort inner, string method, int after, CancellationTokenSource crash) where TPort : class =>
        CrashPointProxy<TPort>.Create(inner, method, after, crash);
}

/// <summary>The proxy behind <see cref="CrashPoint.Wrap"/> (DispatchProxy needs a public, unsealed type).</summary>
public class CrashPointProxy<TPort> : DispatchProxy where TPort : class
{
    private TPort _inner = null!;
    private string _method = null!;
    private int _after;
    private int _calls;
    private CancellationTokenSource _crash = null!;

    internal static TPort Create(TPort inner, string method, int after, CancellationTokenSource crash)
    {
        var port = Create<TPort, CrashPointProxy<TPort>>();
        var proxy = (CrashPointProxy<TPort>)(object)port;
        (proxy._inner, proxy._method, proxy._after, proxy._crash) = (inner, method, after, crash);
        return port;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        _crash.Token.ThrowIfCancellationRequested();
        object? result;
        try { result = targetMethod.Invoke(_inner, args); }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        if (targetMethod.Name != _method || result is not Task task || Interlocked.Increment(ref _calls) != _after) return result;
        if (!targetMethod.ReturnType.IsGenericType) return ThenCrashAsync(task);
        return typeof(CrashPointProxy<TPort>).GetMethod(nameof(ThenCrashWithResultAsync), BindingFlags.NonPublic | BindingFlags.Instance)!
            .MakeGenericMethod(targetMethod.ReturnType.GetGenericArguments()[0]).Invoke(this, [task]);
    }

    private async Task ThenCrashAsync(Task call)
    {
        await call;
        await _crash.CancelAsync();
        _crash.Token.ThrowIfCancellationRequested();
    }

    private async Task<T> ThenCrashWithResultAsync<T>(Task<T> call)
    {
        await call;
        await _crash.CancelAsync();
        _crash.Token.ThrowIfCancellationRequested();
        throw new UnreachableException();
    }
}
