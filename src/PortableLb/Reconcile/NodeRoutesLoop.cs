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
/// snapshot: plan, then make the node's table match; failures are retried with backoff.
/// </summary>
public sealed partial class NodeRoutesLoop(
    IClusterSource source, NodeRouteTable table, string nodeName, NodeAddresses node, IReadOnlyCollection<ServiceName>? only,
    NodeRoutesStatus status, ILogger<NodeRoutesLoop> logger, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(30);
    private static readonly TimeSpan Resync = TimeSpan.FromSeconds(30);
    private readonly OncePerChange _errors = new();
    private IReadOnlyList<NodeRoute> _last = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sourceRun = source.RunAsync(stoppingToken);
        await Task.WhenAny(source.Ready, sourceRun).ConfigureAwait(false);
        if (sourceRun.IsCompleted) await sourceRun.ConfigureAwait(false);
        var retry = new Kubernetes.Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));
        while (!stoppingToken.IsCancellationRequested)
        {
            source.Changes.Reset();
            var (routes, errors) = NodeRoutePlanner.Plan(source.Snapshot(), nodeName, node, only);
            foreach (var error in _errors.New(errors.Select(e => e.ToString()))) Log.AddressRejected(logger, error);
            var failures = await table.ApplyAsync(routes, stoppingToken).ConfigureAwait(false);
            (status.Routes, status.LastPass, status.Failures) = (routes.Count, time.GetUtcNow(), failures);
            foreach (var failure in failures) Log.RouteFailed(logger, failure);
            if (failures.Count == 0)
            {
                retry.Reset();
                if (!routes.SequenceEqual(_last)) Log.Applied(logger, routes.Count, nodeName, table.Kind ?? "");
                _last = routes;
            }

            var wait = failures.Count > 0 ? retry.Next() : Resync;
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

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.NodeRoutesApplied, Level = LogLevel.Information, Message = "{Routes} Service routes on node {Node} match the LB pods there, through {Kind}")]
        public static partial void Applied(ILogger logger, int routes, string node, string kind);

        [LoggerMessage(EventId = LogEvents.NodeRouteFailed, Level = LogLevel.Error, Message = "Node route not set; retrying with backoff: {Failure}")]
        public static partial void RouteFailed(ILogger logger, string failure);

        [LoggerMessage(EventId = LogEvents.ObjectRejected, Level = LogLevel.Warning, Message = "Object rejected: {Error}")]
        public static partial void AddressRejected(ILogger logger, string error);
    }
}
