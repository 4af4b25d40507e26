using PortableLb.Kubernetes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Sources;

namespace PortableLb.Reconcile;

/// <summary>What the node-routes loop last did, for /readyz.</summary>
public sealed class NodeRoutesStatus
{
    public int Routes { get; set; }
    public DateTimeOffset? LastPass { get; set; }
    public IReadOnlyList<string> Failures { get; set; } = [];
}

/// <summary>
/// `node-routes` as a hosted service: level-based like the controller's loop. Every change of the Services or of
/// this node's LB pods (and a resync every 30 s, for routes removed behind its back) leads to one pass from a whole
/// snapshot: plan, then make the node's table match; failures are retried with backoff. Where connections are pinned
/// to their LB pod (<see cref="NodeRouteTable.PinsConnections"/>), a terminating LB pod with a ready sibling leaves the
/// route at once and keeps the connections it has; without pins it drains for <see cref="DrainTime"/> from when this
/// loop first saw it terminating, and one more pass runs when that ends.
/// </summary>
public sealed partial class NodeRoutesLoop(
    IClusterSource source, NodeRouteTable table, string nodeName, NodeAddresses node, IReadOnlyCollection<ServiceName>? only,
    NodeRoutesStatus status, ILogger<NodeRoutesLoop> logger, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(30);
    private static readonly TimeSpan Resync = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Long enough for every bucket that only new connections use to go idle and move (see
    /// <see cref="ResilientGroupRoutes"/>), short enough to end well inside the pod's withdrawal (preStop 1 s, the
    /// withdrawal, 5 s of serving after it).
    /// </summary>
    public static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(ResilientGroupRoutes.IdleSeconds + 1);

    // Terminating LB pods on this node ("namespace/name") and when this loop first saw them terminating.
    private readonly Dictionary<string, DateTimeOffset> _terminatingSince = [];
    private readonly OncePerChange _errors = new();
    private IReadOnlyList<NodeRoute> _last = [];
    private int _lastPinned;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sourceRun = source.RunAsync(stoppingToken);
        await Task.WhenAny(source.Ready, sourceRun).ConfigureAwait(false);
        if (sourceRun.IsCompleted) await sourceRun.ConfigureAwait(false);
        var retry = new Kubernetes.Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));
        while (!stoppingToken.IsCancellationRequested)
        {
            source.Changes.Reset();
            var snapshot = source.Snapshot();
            var (draining, drainEnds) = table.PinsConnections ? (new HashSet<string>(), null) : Draining(snapshot);
            var (routes, errors) = NodeRoutePlanner.Plan(snapshot, nodeName, node, only, draining);
            foreach (var error in _errors.New(errors.Select(e => e.ToString()))) Log.AddressRejected(logger, error);
            var failures = await table.ApplyAsync(routes, NodeRoutePlanner.LbPodAddresses(snapshot, nodeName), stoppingToken).ConfigureAwait(false);
            (status.Routes, status.LastPass, status.Failures) = (routes.Count, time.GetUtcNow(), failures);
            foreach (var failure in failures) Log.RouteFailed(logger, failure);
            if (failures.Count == 0)
            {
                retry.Reset();
                if (!routes.SequenceEqual(_last) || table.Pinned != _lastPinned) Log.Applied(logger, routes.Count, nodeName, table.Kind ?? "", table.Pinned);
                _lastPinned = table.Pinned;
                _last = routes;
            }

            var wait = failures.Count > 0 ? retry.Next() : Resync;
            if (drainEnds is { } end && end - time.GetUtcNow() is var untilEnd && untilEnd < wait) wait = untilEnd > TimeSpan.Zero ? untilEnd : TimeSpan.Zero;
            try
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                await Task.WhenAny(source.Changes.WaitAsync(deadline.Token), Task.Delay(wait, time, deadline.Token), sourceRun).ConfigureAwait(false);
                await deadline.CancelAsync().ConfigureAwait(false);
                if (sourceRun.IsCompleted) await sourceRun.ConfigureAwait(false);
                await Task.Delay(Debounce, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>The LB pods on this node still draining, and when the first of them stops.</summary>
    private (IReadOnlySet<string> Draining, DateTimeOffset? Ends) Draining(ClusterSnapshot snapshot)
    {
        var now = time.GetUtcNow();
        var terminating = snapshot.Pods.Where(p => p.Spec?.NodeName == nodeName && p.IsTerminating()).Select(NodeRoutePlanner.PodKey).ToHashSet();
        foreach (var gone in _terminatingSince.Keys.Where(k => !terminating.Contains(k)).ToList()) _terminatingSince.Remove(gone);
        foreach (var pod in terminating) _terminatingSince.TryAdd(pod, now);
        var draining = _terminatingSince.Where(p => now - p.Value < DrainTime).ToList();
        return (draining.Select(p => p.Key).ToHashSet(), draining.Count > 0 ? draining.Min(p => p.Value) + DrainTime : null);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.NodeRoutesApplied, Level = LogLevel.Information, Message = "{Routes} Service routes on node {Node} match the LB pods there, through {Kind}; connections pinned to {Pinned} LB pods")]
        public static partial void Applied(ILogger logger, int routes, string node, string kind, int pinned);

        [LoggerMessage(EventId = LogEvents.NodeRouteFailed, Level = LogLevel.Error, Message = "Node route not set; retrying with backoff: {Failure}")]
        public static partial void RouteFailed(ILogger logger, string failure);

        [LoggerMessage(EventId = LogEvents.ObjectRejected, Level = LogLevel.Warning, Message = "Object rejected: {Error}")]
        public static partial void AddressRejected(ILogger logger, string error);
    }
}
