using System.Collections.Immutable;
using Microsoft.Azure.Functions.Worker;

namespace Pipeline.Functions.Tests;

/// <summary>The part of a FunctionContext the app reads: the queue trigger's binding data (message id, dequeue count), as the host sends it.</summary>
internal sealed class DriverFunctionContext(IServiceProvider services, string messageId, long dequeueCount) : FunctionContext
{
    public override string InvocationId { get; } = Guid.NewGuid().ToString();
    public override string FunctionId => "driver";
    public override TraceContext TraceContext => throw new NotSupportedException();
    public override BindingContext BindingContext { get; } = new DriverBindingContext(new Dictionary<string, object?>
    {
        ["Id"] = messageId,
        // The host sends numbers as JSON text.
        ["DequeueCount"] = dequeueCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });
    public override RetryContext RetryContext => throw new NotSupportedException();
    public override IServiceProvider InstanceServices { get; set; } = services;
    public override FunctionDefinition FunctionDefinition => throw new NotSupportedException();
    public override IDictionary<object, object> Items { get; set; } = new Dictionary<object, object>();
    public override IInvocationFeatures Features => throw new NotSupportedException();

    private sealed class DriverBindingContext(IReadOnlyDictionary<string, object?> data) : BindingContext
    {
        public override IReadOnlyDictionary<string, object?> BindingData { get; } = data.ToImmutableDictionary(StringComparer.OrdinalIgnoreCase);
    }
}
