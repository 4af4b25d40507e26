using System.Net;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.Apply;

/// <summary>
/// Keeps the node's routes to its LB pods, in the node's main table, each marked with our protocol number
/// (<see cref="DataPlane.RouteProtocol"/>): only routes (and nexthop objects) with it are changed or deleted, and the
/// ones an earlier run left behind are adopted at the first apply and removed if no longer wanted. Several ready LB
/// pods on one node share one route, ECMP across them.
/// </summary>
/// <remarks>
/// Where the kernel has them (5.13 and later), the route goes through a resilient nexthop group
/// (<see cref="ResilientGroupRoutes"/>): a next hop that joins takes over only hash buckets that have been idle, so the
/// connections in flight keep their LB pod, which holds their IPVS state. A plain multipath route
/// (<see cref="MultipathRoutes"/>) rehashes at every change, and a connection moved to another LB pod mid-flight is
/// reset there; older kernels get it all the same. With <see cref="FlowPins"/>, a connection keeps its LB pod even
/// when the route moves its bucket, or drops the pod: the routes then only decide where new connections go.
/// </remarks>
public sealed class NodeRouteTable(IProcessRunner runner, bool? resilientGroups = null, FlowPins? pins = null)
{
    private INodeRouteWriter? _writer;

    // Destination → the route as installed; adopted routes start with none known, so they are set again.
    private Dictionary<IPNetwork, NodeRoute?>? _installed;

    /// <summary>Which kind of route the table keeps, once the first apply has chosen: "resilient nexthop groups" or "multipath routes".</summary>
    public string? Kind => _writer?.Kind;

    /// <summary>The LB pods whose connections are pinned to them now; 0 without pinning.</summary>
    public int Pinned => pins?.Pinned ?? 0;

    /// <summary>
    /// Whether each connection keeps its LB pod whatever the route does; then a terminating pod can leave the route
    /// at once, and no new connection is sent to it.
    /// </summary>
    public bool PinsConnections => pins?.Enabled == true;

    /// <returns>What could not be done, in words; empty when the table matches.</returns>
    public Task<IReadOnlyList<string>> ApplyAsync(IReadOnlyList<NodeRoute> wanted, CancellationToken cancellationToken) =>
        ApplyAsync(wanted, wanted.SelectMany(r => r.Via.Concat(r.Draining)).Distinct().ToList(), cancellationToken);

    /// <param name="wanted">The routes.</param>
    /// <param name="lbPods">Every LB pod on the node, in the routes or not: each keeps the connections it has until it goes.</param>
    /// <param name="cancellationToken">Stops the pass.</param>
    /// <returns>What could not be done, in words; empty when the table matches.</returns>
    public async Task<IReadOnlyList<string>> ApplyAsync(IReadOnlyList<NodeRoute> wanted, IReadOnlyCollection<IPAddress> lbPods, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        var ip = new IpCommand(runner);
        if (_writer is null)
        {
            var resilient = resilientGroups ?? (Environment.OSVersion.Version >= new Version(5, 13) && await ResilientGroupRoutes.SupportedAsync(ip, cancellationToken).ConfigureAwait(false));
            _writer = resilient ? new ResilientGroupRoutes(ip) : new MultipathRoutes(ip);
        }
        // The kernel is the truth: if a route we set is gone (deleted by hand, or with the nexthop objects of a pod's
        // veth), read the whole table again, as at a start, and set what is wanted.
        if (_installed is { Count: > 0 } known && !await AllPresentAsync(ip, known.Keys, cancellationToken).ConfigureAwait(false)) _installed = null;
        _installed ??= await _writer.AdoptAsync(failures, cancellationToken).ConfigureAwait(false);
        foreach (var route in wanted)
        {
            if (_installed.TryGetValue(route.Destination, out var installed) && route.Equals(installed)) continue;
            if (await _writer.SetAsync(route, failures, cancellationToken).ConfigureAwait(false)) _installed[route.Destination] = route;
        }
        var keep = wanted.Select(r => r.Destination).ToHashSet();
        foreach (var destination in _installed.Keys.Where(d => !keep.Contains(d)).ToList())
        {
            if (await _writer.RemoveAsync(destination, failures, cancellationToken).ConfigureAwait(false)) _installed.Remove(destination);
        }
        await _writer.CollectGarbageAsync(failures, cancellationToken).ConfigureAwait(false);
        // After a failure, read the table again before the retry: what failed may have been someone else's change
        // (a pod's veth deleted with its nexthop objects), which the kernel knows and our memory does not.
        if (failures.Count > 0) _installed = null;
        if (pins is not null) await pins.ApplyAsync(wanted, lbPods, failures, cancellationToken).ConfigureAwait(false);
        return failures;
    }

    private static async Task<bool> AllPresentAsync(IpCommand ip, IEnumerable<IPNetwork> destinations, CancellationToken cancellationToken)
    {
        var unread = new List<string>();
        var present = (await MultipathRoutes.OurRoutesAsync(ip, unread, cancellationToken).ConfigureAwait(false)).Select(r => r.Destination).ToHashSet();
        return unread.Count == 0 && destinations.All(present.Contains);
    }
}

/// <summary>One way of writing the node's routes to its LB pods.</summary>
internal interface INodeRouteWriter
{
    string Kind { get; }

    /// <summary>Our routes as an earlier run left them: each destination, with its next hops unknown.</summary>
    Task<Dictionary<IPNetwork, NodeRoute?>> AdoptAsync(List<string> failures, CancellationToken cancellationToken);

    Task<bool> SetAsync(NodeRoute route, List<string> failures, CancellationToken cancellationToken);

    Task<bool> RemoveAsync(IPNetwork destination, List<string> failures, CancellationToken cancellationToken);

    /// <summary>Removes what no route uses any more (nexthop objects); a no-op where there is nothing of the kind.</summary>
    Task CollectGarbageAsync(List<string> failures, CancellationToken cancellationToken);
}
