using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Pipeline.Functions.Tests;

/// <summary>Every log line the app writes, with its level, category, message and structured fields (scopes included).</summary>
internal sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<Entry> Entries { get; } = new();

    public sealed record Entry(LogLevel Level, string Category, string Message, IReadOnlyDictionary<string, object?> Fields, Exception? Exception);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose() { }

    private sealed class Logger(CapturedLogs logs, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => logs._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = new Dictionary<string, object?>(StringComparer.Ordinal);
            logs._scopes.ForEachScope((scope, all) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object>> pairs) foreach (var (k, v) in pairs) all[k] = v;
            }, fields);
            if (state is IEnumerable<KeyValuePair<string, object?>> own) foreach (var (k, v) in own) fields[k] = v;
            logs.Entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), fields, exception));
        }
    }
}
