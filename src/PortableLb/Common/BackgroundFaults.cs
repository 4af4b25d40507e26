using Microsoft.Extensions.Logging;

namespace PortableLb.Common;

/// <summary>
/// The background tasks that stopped by fault. A task that dies must not leave a process that looks healthy: each
/// fault is logged the moment it happens, shows in /healthz and /metrics, stops the process (<see cref="Faulted"/>),
/// and makes it exit non-zero, so the kubelet restarts the container.
/// </summary>
public sealed partial class BackgroundFaults(ILogger<BackgroundFaults> logger)
{
    private readonly Lock _lock = new();
    private readonly List<(string Task, Exception Error)> _faults = [];

    /// <summary>Raised after each fault is recorded; `run` stops the host from here.</summary>
    public event Action? Faulted;

    public IReadOnlyList<(string Task, Exception Error)> All
    {
        get
        {
            lock (_lock) return [.. _faults];
        }
    }

    public bool Any => All.Count > 0;

    public void Record(string task, Exception error)
    {
        lock (_lock) _faults.Add((task, error));
        Log.Faulted(logger, task, error);
        Faulted?.Invoke();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.BackgroundTaskFaulted, Level = LogLevel.Critical, Message = "{Task} failed; stopping so that the container restarts")]
        public static partial void Faulted(ILogger logger, string task, Exception error);
    }
}
