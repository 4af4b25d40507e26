using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Sources;
using Prometheus;

namespace PortableLb.Diagnostics;

/// <summary>
/// Writes the Services' status.loadBalancer from the latest plan (<see cref="ServiceStatusPlanner"/>), only while
/// this LB pod leads (<see cref="LeaderElector"/>); every pod plans, one writes. Level-based: each pass works from
/// the latest plan, so a burst of reconciles is one pass, and a new leader starts from the plan of the newest
/// snapshot. A plan made from a snapshot that does not show this pod's own last writes yet (the watch lags them) is
/// not acted on: it could hand an address just given to one Service to another. The next plan, made once the watch
/// brings those writes, is. Failures are logged, counted and retried with backoff; they never touch serving.
/// </summary>
public sealed partial class ServiceStatusPublisher : BackgroundService, IServiceStatusSink
{
    private static readonly TimeSpan Resync = TimeSpan.FromSeconds(30);

    private readonly KubernetesClient _client;
    private readonly LeaderElector _elector;
    private readonly IServiceEventSink? _events;
    private readonly ILogger _logger;
    private readonly ChangeSignal _wake = new();
    private readonly Counter _writes;
    private readonly Gauge _leading;
    private readonly Gauge _allocationFailures;
    private volatile StatusPlan _latest = StatusPlan.Empty;

    // Per Service: the resourceVersion our last write to it was planned against, until a plan's snapshot shows the
    // Service at another version (our write, or a later change).
    private readonly Dictionary<ServiceName, string?> _written = [];
    private readonly OncePerChange _allocationErrors = new();

    public ServiceStatusPublisher(KubernetesClient client, LeaderElector elector, IServiceEventSink? events, CollectorRegistry registry, ILogger<ServiceStatusPublisher> logger)
    {
        (_client, _elector, _events, _logger) = (client, elector, events, logger);
        var metrics = Prometheus.Metrics.WithCustomRegistry(registry);
        _writes = metrics.CreateCounter("portable_lb_status_writes_total", "Writes of Services' status.loadBalancer by this pod, by result: written, failed.", "result");
        _leading = metrics.CreateGauge("portable_lb_leader", "1 while this LB pod holds the Lease and writes Service status.");
        _allocationFailures = metrics.CreateGauge("portable_lb_allocation_failures", "Services that wait for an address their pools cannot give (as the leader last planned).");
        _elector.LeadershipChanged += _wake.Set;
    }

    public void Offer(StatusPlan plan)
    {
        _latest = plan;
        _wake.Set();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var election = _elector.RunAsync(stoppingToken);
        var publishing = PublishLoopAsync(stoppingToken);
        // Either one ending while the host runs is a fault of the whole publisher, seen at once.
        var first = await Task.WhenAny(election, publishing).ConfigureAwait(false);
        await first.ConfigureAwait(false);
        if (!stoppingToken.IsCancellationRequested) throw new InvalidOperationException(first == election ? "the leader election stopped on its own" : "the status publisher stopped on its own");
        await Task.WhenAll(election, publishing).ConfigureAwait(false);
    }

    private async Task PublishLoopAsync(CancellationToken cancellationToken)
    {
        var retry = new Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));
        while (!cancellationToken.IsCancellationRequested)
        {
            _wake.Reset();
            _leading.Set(_elector.Current is null ? 0 : 1);
            var failed = await PublishAsync(cancellationToken).ConfigureAwait(false);
            if (!failed) retry.Reset();
            try
            {
                await _wake.WaitAsync(failed ? retry.Next() : Resync, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <returns>True when a write failed and the pass should be retried.</returns>
    private async Task<bool> PublishAsync(CancellationToken cancellationToken)
    {
        var plan = _latest;
        var changes = plan.Changes;
        if (_elector.Current is null) return false;
        // Our writes the plan's snapshot has seen (or that were overtaken, or whose Service is gone) are settled.
        foreach (var (service, written) in _written.ToList())
        {
            if (!plan.Versions.TryGetValue(service, out var version) || version != written) _written.Remove(service);
        }
        if (_written.Count > 0) return false; // a plan from before our own last writes: wait for the next one
        _allocationFailures.Set(plan.AllocationFailures.Count);
        // Logged once per change, like the reconcile loop's object errors; the Event sink keeps its own once-per-change.
        foreach (var failure in _allocationErrors.New(plan.AllocationFailures.Select(f => f.ToString()))) Log.AllocationFailed(_logger, failure);
        foreach (var failure in plan.AllocationFailures)
        {
            if (_events is not null)
            {
                await _events.ReportAsync(new ServiceName(failure.Object.Namespace, failure.Object.Name), "AllocationFailed", $"{failure.Field}: {failure.Message}", cancellationToken).ConfigureAwait(false);
            }
        }
        foreach (var change in changes)
        {
            // Asked right before each write: a leader whose renewals stopped succeeding stops here, before its lease can expire.
            if (_elector.Current is null) return false;
            try
            {
                await _client.PatchStatusAsync(Resources.Services, change.Service.Namespace, change.Service.Name, MergePatch(change.Ingress, change.ResourceVersion), cancellationToken).ConfigureAwait(false);
                _written[change.Service] = change.ResourceVersion;
                _writes.WithLabels("written").Inc();
                var shown = change.Ingress.Count == 0 ? "none" : string.Join(", ", change.Ingress.Select(i => $"{i.Ip} ({i.IpMode})"));
                Log.Written(_logger, change.Service.ToString(), shown);
                if (change.Ingress.Count > 0 && _events is not null)
                {
                    await _events.ReportAsync(change.Service, "AddressAssigned", $"status.loadBalancer.ingress: {shown}", cancellationToken, warning: false).ConfigureAwait(false);
                }
            }
            catch (KubernetesApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                // Deleted since the snapshot: its status went with it.
            }
            catch (KubernetesApiException e) when (e.IsConflict)
            {
                // Changed since the snapshot (its pool, its addresses): the plan is stale for it, and the changes after
                // it may depend on it. The change wakes a new reconcile, whose plan is acted on instead.
                return false;
            }
            catch (Exception e) when (e is KubernetesApiException or HttpRequestException or TimeoutException or JsonException)
            {
                // The plan's order frees an address before another Service takes it: nothing after a failure is written.
                _writes.WithLabels("failed").Inc();
                Log.NotWritten(_logger, change.Service.ToString(), e.Message);
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// {"metadata":{"resourceVersion":…},"status":{"loadBalancer":{"ingress":[…]}}}: null removes the list (RFC 7386),
    /// which clears EXTERNAL-IP. The resourceVersion makes the write conditional: the API server answers 409 if the
    /// Service changed since the snapshot the plan was made from, so a stale plan never lands.
    /// </summary>
    public static string MergePatch(ValueList<IngressEntry> ingress, string? resourceVersion = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (resourceVersion is not null)
            {
                json.WriteStartObject("metadata");
                json.WriteString("resourceVersion", resourceVersion);
                json.WriteEndObject();
            }
            json.WriteStartObject("status");
            json.WriteStartObject("loadBalancer");
            if (ingress.Count == 0) json.WriteNull("ingress");
            else
            {
                json.WriteStartArray("ingress");
                foreach (var entry in ingress)
                {
                    json.WriteStartObject();
                    json.WriteString("ip", entry.Ip);
                    json.WriteString("ipMode", entry.IpMode);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.StatusWritten, Level = LogLevel.Information, Message = "Service {Service} status.loadBalancer.ingress: {Ingress}")]
        public static partial void Written(ILogger logger, string service, string ingress);

        [LoggerMessage(EventId = LogEvents.AllocationFailed, Level = LogLevel.Warning, Message = "No address for a Service: {Failure}")]
        public static partial void AllocationFailed(ILogger logger, string failure);

        [LoggerMessage(EventId = LogEvents.StatusNotWritten, Level = LogLevel.Warning, Message = "Could not write Service {Service}'s status (retried with backoff): {Error}")]
        public static partial void NotWritten(ILogger logger, string service, string error);
    }
}
