using Microsoft.Extensions.Logging;
using PortableLb.Kubernetes;
using k8s.Models;
using PortableLb.Model;
using PortableLb.Reconcile;

namespace PortableLb.Diagnostics;

/// <summary>
/// events.k8s.io/v1 Events on the Service. The same note for the same Service and reason is sent once, not on every
/// reconcile, so a lasting problem is one Event rather than a stream of them. Failing to report never fails a reconcile.
/// </summary>
public sealed partial class KubernetesServiceEvents(KubernetesClient client, string instance, ILogger<KubernetesServiceEvents> logger, TimeProvider? time = null) : IServiceEventSink
{
    public const string Controller = "portable-lb.io/ipvs";
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<(ServiceName, string Reason), string> _lastNote = [];
    private readonly Lock _lock = new();

    public async Task ReportAsync(ServiceName service, string reason, string note, CancellationToken cancellationToken, bool warning = true)
    {
        // The reconcile loop and the status publisher report from their own tasks.
        lock (_lock)
        {
            if (_lastNote.TryGetValue((service, reason), out var last) && last == note) return;
            _lastNote[(service, reason)] = note;
        }
        var now = _time.GetUtcNow();
        try
        {
            await client.CreateAsync(Resources.Events, service.Namespace, new Eventsv1Event
            {
                Metadata = new V1ObjectMeta { Name = $"{service.Name}.{now.ToUnixTimeMilliseconds():x}", NamespaceProperty = service.Namespace },
                EventTime = now.UtcDateTime,
                ReportingController = Controller,
                ReportingInstance = instance,
                Action = "Reconcile",
                Reason = reason,
                // The API caps a note at 1 kB.
                Note = note.Length > 1000 ? note[..1000] : note,
                Type = warning ? "Warning" : "Normal",
                Regarding = new V1ObjectReference { ApiVersion = "v1", Kind = "Service", NamespaceProperty = service.Namespace, Name = service.Name },
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KubernetesApiException or HttpRequestException or TimeoutException)
        {
            lock (_lock) _lastNote.Remove((service, reason));
            Log.NotReported(logger, service.ToString(), e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.EventNotRecorded, Level = LogLevel.Warning, Message = "Could not record an Event on Service {Service}: {Error}")]
        public static partial void NotReported(ILogger logger, string service, string error);
    }
}
