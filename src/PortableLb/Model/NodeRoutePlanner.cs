using System.Net;
using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Sources;
using PortableLb.Tuning;

namespace PortableLb.Model;

/// <summary>A route on a node: a served address (or prefix) through the ready LB pods on that node, ECMP across them.</summary>
public sealed record NodeRoute(IPNetwork Destination, ValueList<IPAddress> Via)
{
    /// <summary>
    /// Terminating LB pods that keep only the flows they carry for a few more seconds (the least weight a route can
    /// give), so that a connection in flight is not moved to a pod without its IPVS state.
    /// </summary>
    public ValueList<IPAddress> Draining { get; init; } = ValueList<IPAddress>.Empty;
}

/// <summary>
/// The pure half of `node-routes`: which Service addresses a node must hand to which of its LB pods. The router
/// delivers a VIP's packets to a node (BGP next-hop: node, or a pod address the router resolves through the node
/// that owns the pod CIDR); the packet is still addressed to the VIP, so without this route the node would send it
/// back out of its default route, where the router sends it straight back.
/// The next hops are the node's LB pods that are ready and staying. Only when the node has none do the others stand
/// in, best first: a terminating pod that is still ready (it serves through its grace period while the routers learn
/// of its withdrawal), then a pod that is not ready. A pod the kubelet calls unready has withdrawn or will announce
/// again before the kubelet notices; meanwhile the routers still send the node its traffic, and handing that to the
/// pod can succeed where looping it back to the router cannot. Siblings that are ready always win, so a rolling
/// update's new pod takes new flows at once; a terminating pod the caller names as draining stays beside them as a
/// draining next hop (<see cref="NodeRoute.Draining"/>) until the caller stops naming it.
/// </summary>
public static class NodeRoutePlanner
{
    /// <summary>The node's routes; <paramref name="draining"/> names the terminating LB pods ("namespace/name") whose flows are still draining.</summary>
    public static (IReadOnlyList<NodeRoute> Routes, IReadOnlyList<ObjectError> Errors) Plan(
        ClusterSnapshot snapshot, string nodeName, NodeAddresses node, IReadOnlyCollection<ServiceName>? only = null, IReadOnlySet<string>? draining = null)
    {
        var errors = new List<ObjectError>();
        var lbPods = OnNode(snapshot, nodeName)
            .SelectMany(p => p.Addresses().Select(a => IpText.TryParseAddress(a, out var address)
                ? (Address: address, Rank: Rank(p), Draining: p.IsReady() && p.IsTerminating() && draining?.Contains(PodKey(p)) == true)
                : default))
            .Where(p => p.Address is not null)
            .DistinctBy(p => p.Address)
            .ToList();

        // The same rules as the LB pods: a Service may not claim this node's addresses or special-purpose ranges.
        var reserved = new ProtectedAddresses(node, BgpSettings.Default);
        var destinations = new SortedDictionary<string, IPNetwork>(StringComparer.Ordinal);
        foreach (var service in snapshot.Services.Where(DesiredStateBuilder.IsServed))
        {
            var key = ObjectKey.Of(service);
            if (only is { Count: > 0 } && !only.Contains(new ServiceName(key.Namespace, key.Name))) continue;
            foreach (var address in ServiceAddresses.Resolve(service, reserved, pools: null, (field, message) => errors.Add(new ObjectError(key, field, message))))
            {
                destinations.TryAdd(address.Network.ToString(), address.Network);
            }
        }

        var routes = new List<NodeRoute>();
        foreach (var destination in destinations.Values)
        {
            var family = lbPods.Where(p => p.Address!.AddressFamily == destination.BaseAddress.AddressFamily).ToList();
            var best = family.Count > 0 ? family.Min(p => p.Rank) : 0;
            var via = family.Where(p => p.Rank == best).Select(p => p.Address!).Order(AddressOrder.Instance).ToValueList();
            var drained = best == 0 ? family.Where(p => p.Draining).Select(p => p.Address!).Order(AddressOrder.Instance).ToValueList() : ValueList<IPAddress>.Empty;
            if (via.Count > 0) routes.Add(new NodeRoute(destination, via) { Draining = drained });
        }
        return (routes, errors);
    }

    /// <summary>
    /// The addresses of every LB pod on the node, whatever its state: each keeps the connections it carries (see
    /// <c>FlowPins</c>) until it is gone, also after it has left the routes.
    /// </summary>
    public static IReadOnlyList<IPAddress> LbPodAddresses(ClusterSnapshot snapshot, string nodeName) =>
        OnNode(snapshot, nodeName).SelectMany(p => p.Addresses()).Select(a => IpText.TryParseAddress(a, out var address) ? address : null)
            .OfType<IPAddress>().Distinct().Order(AddressOrder.Instance).ToList();

    private static IEnumerable<k8s.Models.V1Pod> OnNode(ClusterSnapshot snapshot, string nodeName) =>
        snapshot.Pods.Where(p => p.Spec?.NodeName == nodeName && p.Metadata?.Labels.ValueOf(KubernetesSource.LbPodLabelKey) == KubernetesSource.LbPodLabelValue);

    /// <summary>How <paramref name="pod"/> is named in the draining set: "namespace/name".</summary>
    public static string PodKey(k8s.Models.V1Pod pod) => $"{pod.Metadata?.NamespaceProperty}/{pod.Metadata?.Name}";

    /// <summary>0: ready and staying; 1: ready but terminating; 2: not ready.</summary>
    private static int Rank(k8s.Models.V1Pod pod) => !pod.IsReady() ? 2 : pod.IsTerminating() ? 1 : 0;
}
