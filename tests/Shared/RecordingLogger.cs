using Microsoft.Extensions.Logging;

namespace PortableLb.Testing;

/// <summary>A logger that keeps every line (event id and formatted message), for tests that check what was logged and how often.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly List<(int EventId, LogLevel Level, string Message)> _lines = [];

    public IReadOnlyList<(int EventId, LogLevel Level, string Message)> Lines
    {
        get
        {
            lock (_lines) return [.. _lines];
        }
    }

    public IEnumerable<string> Messages(int eventId) => Lines.Where(l => l.EventId == eventId).Select(l => l.Message);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines) _lines.Add((eventId.Id, logLevel, formatter(state, exception)));
    }
}
