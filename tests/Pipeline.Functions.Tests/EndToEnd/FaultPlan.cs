using System.Reflection;
using System.Runtime.ExceptionServices;

namespace Pipeline.Functions.Tests.EndToEnd;

/// <summary>An exception the test threw into a port: not one the engine treats as permanent, so the queue retries.</summary>
internal sealed class InjectedFault(string message) : Exception(message);

/// <summary>
/// Decides, per function invocation (seeded), whether it fails and at which call into the run store or destination,
/// before the call or after it took effect (the caller then sees a failure for work that was done). Never on a
/// message's last delivery, so no message is poisoned by the test itself.
/// </summary>
internal sealed class FaultPlan(int seed, double faultyInvocations, int maxDequeueCount)
{
    private static readonly AsyncLocal<Invocation?> Current = new();
    private readonly Random _random = new(seed);
    private int _injected;

    public int Seed => seed;

    public int Injected => Volatile.Read(ref _injected);

    public IDisposable Begin(long dequeueCount)
    {
        Invocation invocation;
        lock (_random)
        {
            var faulty = dequeueCount < maxDequeueCount && _random.NextDouble() < faultyInvocations;
            invocation = new Invocation(faulty, _random.Next(1, 10), _random.Next(2) == 0);
        }
        Current.Value = invocation;
        return new End();
    }

    /// <summary>Whether this call of the current invocation fails, and when.</summary>
    public (bool Before, bool After) Next(string operation)
    {
        if (Current.Value is not { Faulty: true } invocation || Interlocked.Increment(ref invocation.Calls) != invocation.FailAt) return (false, false);
        Interlocked.Increment(ref _injected);
        return (invocation.Before, !invocation.Before);
    }

    public InjectedFault Fault(string operation, bool after) =>
        new($"Injected fault {(after ? "after" : "before")} {operation} (seed {seed})");

    private sealed class Invocation(bool faulty, int failAt, bool before)
    {
        public bool Faulty { get; } = faulty;
        public int FailAt { get; } = failAt;
        public bool Before { get; } = before;
        public int Calls;
    }

    private sealed class End : IDisposable
    {
        public void Dispose() => Current.Value = null;
    }
}

/// <summary>Any port interface with the plan's faults around each asynchronous call.</summary>
#pragma warning disable CA1852 // DispatchProxy derives a type from it: it cannot be sealed
internal class FaultProxy<T> : DispatchProxy where T : class
{
    private T _inner = null!;
    private FaultPlan _plan = null!;

    public static T Wrap(T inner, FaultPlan plan)
    {
        var proxy = Create<T, FaultProxy<T>>();
        var self = (FaultProxy<T>)(object)proxy;
        self._inner = inner;
        self._plan = plan;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? method, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(method);
        var isTask = typeof(Task).IsAssignableFrom(method.ReturnType);
        var (before, after) = isTask ? _plan.Next(method.Name) : (false, false);
        if (before) return Faulted(method.ReturnType, _plan.Fault(typeof(T).Name + "." + method.Name, after: false));
        object? result;
        try
        {
            result = method.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        return after ? ThenFail(method.ReturnType, (Task)result!, _plan.Fault(typeof(T).Name + "." + method.Name, after: true)) : result;
    }

    private static object Faulted(Type returnType, Exception fault) =>
        returnType.IsGenericType
            ? typeof(FaultProxy<T>).GetMethod(nameof(FailTyped), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(returnType.GetGenericArguments()[0]).Invoke(null, [fault])!
            : Task.FromException(fault);

    private static object ThenFail(Type returnType, Task task, Exception fault) =>
        returnType.IsGenericType
            ? typeof(FaultProxy<T>).GetMethod(nameof(AwaitThenFailTyped), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(returnType.GetGenericArguments()[0]).Invoke(null, [task, fault])!
            : AwaitThenFail(task, fault);

    private static Task<TResult> FailTyped<TResult>(Exception fault) => Task.FromException<TResult>(fault);

    private static async Task<TResult> AwaitThenFailTyped<TResult>(Task task, Exception fault)
    {
        _ = await (Task<TResult>)task;
        throw fault;
    }

    private static async Task AwaitThenFail(Task task, Exception fault)
    {
        await task;
        throw fault;
    }
}
#pragma warning restore CA1852
