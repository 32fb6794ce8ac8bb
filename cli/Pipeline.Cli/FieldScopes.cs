using System.Collections;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Pipeline.Cli;

/// <summary>
/// Hands the console a scope that prints as <c>RunId=... File=2 Part=3</c>: a stage opens its scope with a
/// dictionary of fields, whose ToString is only the type name. Structured providers still get the fields.
/// </summary>
internal sealed class FieldScopeLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new FieldScopeLogger(inner.CreateLogger(categoryName));

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();

    private sealed class FieldScopeLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull =>
            state is IEnumerable<KeyValuePair<string, object>> fields && state is not FieldScope && !OverridesToString(state)
                ? inner.BeginScope(new FieldScope([.. fields.Select(f => new KeyValuePair<string, object?>(f.Key, f.Value))]))
                : inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);

        // A message template's own scope (LoggerMessage.DefineScope) already prints well.
        private static bool OverridesToString(object state) => state.ToString() != state.GetType().ToString();
    }

    /// <summary>Scope fields that print as key=value pairs.</summary>
    internal sealed class FieldScope(KeyValuePair<string, object?>[] fields) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public KeyValuePair<string, object?> this[int index] => fields[index];

        public int Count => fields.Length;

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)fields).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() =>
            string.Join(" ", fields.Select(f => $"{f.Key}={Convert.ToString(f.Value, CultureInfo.InvariantCulture)}"));
    }
}
