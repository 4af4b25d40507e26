using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Kubernetes;
using k8s.Models;
using PortableLb.Model;
using PortableLb.Reconcile;

namespace PortableLb.Diagnostics;

/// <summary>
/// events.k8s.io/v1 Events on the Service, sent from a queue of their own so that a pass which tells a thousand
/// Services' stories never waits on the API server. A Warning with the same note for the same Service and reason is
/// sent once, not on every reconcile, so a lasting problem is one Event rather than a stream of them; Normal Events
/// come from callers that report changes only. Failing to report never fails a reconcile: it is logged, and the
/// Warning is sent again when next reported.
/// </summary>
public sealed partial class KubernetesServiceEvents(KubernetesClient client, string instance, ILogger<KubernetesServiceEvents> logger, TimeProvider? time = null)
    : BackgroundService, IServiceEventSink
{
    public const string Controller = "portable-lb.io/ipvs";

    /// <summary>More than a burst of every Service's Announced at a start; beyond it Events are dropped, and logged.</summary>
    public const int QueueLength = 10_000;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<(ServiceName, string Reason), string> _lastWarning = [];
    private readonly Lock _lock = new();
    private readonly Channel<(ServiceName Service, string Reason, Eventsv1Event Event)> _queue =
        Channel.CreateBounded<(ServiceName, string, Eventsv1Event)>(new BoundedChannelOptions(QueueLength) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

    public Task ReportAsync(ServiceName service, string reason, string note, CancellationToken cancellationToken, bool warning = true)
    {
        // The reconcile loop and the status publisher report from their own tasks.
        lock (_lock)
        {
            if (warning)
            {
                if (_lastWarning.TryGetValue((service, reason), out var last) && last == note) return Task.CompletedTask;
                _lastWarning[(service, reason)] = note;
            }
        }
        var now = _time.GetUtcNow();
        var recorded = new Eventsv1Event
        {
            Metadata = new V1ObjectMeta { Name = $"{service.Name}.{now.ToUnixTimeMilliseconds():x}{Random.Shared.Next(0x1000):x3}", NamespaceProperty = service.Namespace },
            EventTime = now.UtcDateTime,
            ReportingController = Controller,
            ReportingInstance = instance,
            Action = "Reconcile",
            Reason = reason,
            // The API caps a note at 1 kB.
            Note = note.Length > 1000 ? note[..1000] : note,
            Type = warning ? "Warning" : "Normal",
            Regarding = new V1ObjectReference { ApiVersion = "v1", Kind = "Service", NamespaceProperty = service.Namespace, Name = service.Name },
        };
        if (!_queue.Writer.TryWrite((service, reason, recorded)))
        {
            Forget(service, reason);
            Log.Dropped(logger, service.ToString(), reason, QueueLength);
        }
        return Task.CompletedTask;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (service, reason, recorded) in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await client.CreateAsync(Resources.Events, service.Namespace, recorded, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KubernetesApiException or HttpRequestException or TimeoutException)
            {
                Forget(service, reason);
                Log.NotReported(logger, service.ToString(), e.Message);
            }
        }
    }

    private void Forget(ServiceName service, string reason)
    {
        lock (_lock) _lastWarning.Remove((service, reason));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.EventNotRecorded, Level = LogLevel.Warning, Message = "Could not record an Event on Service {Service}: {Error}")]
        public static partial void NotReported(ILogger logger, string service, string error);

        [LoggerMessage(EventId = LogEvents.EventsDropped, Level = LogLevel.Warning, Message = "Event {Reason} on Service {Service} dropped: {Length} Events already wait for the API server")]
        public static partial void Dropped(ILogger logger, string service, string reason, int length);
    }
}
