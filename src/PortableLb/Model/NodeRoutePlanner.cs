using System.Net;
using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Sources;
using PortableLb.Tuning;

namespace PortableLb.Model;

/// <summary>A route on a node: a served address (or prefix) through the ready LB pods on that node, ECMP across them.</summary>
public sealed record NodeRoute(IPNetwork Destination, ValueList<IPAddress> Via);

/// <summary>
/// The pure half of `node-routes`: which Service addresses a node must hand to which of its LB pods. The router
/// delivers a VIP's packets to a node (BGP next-hop: node, or a pod address the router resolves through the node
/// that owns the pod CIDR); the packet is still addressed to the VIP, so without this route the node would send it
/// back out of its default route. An address gets a route only while some LB pod on this node is ready.
/// </summary>
public static class NodeRoutePlanner
{
    public static (IReadOnlyList<NodeRoute> Routes, IReadOnlyList<ObjectError> Errors) Plan(
        ClusterSnapshot snapshot, string nodeName, NodeAddresses node, IReadOnlyCollection<ServiceName>? only = null)
    {
        var errors = new List<ObjectError>();
        var lbPods = snapshot.Pods
            .Where(p => p.Spec?.NodeName == nodeName && p.Metadata?.Labels?.GetValueOrDefault(KubernetesSource.LbPodLabelKey) == KubernetesSource.LbPodLabelValue && p.IsReady)
            .SelectMany(p => p.Addresses.Select(a => IpText.TryParseAddress(a, out var address) ? address : null))
            .OfType<IPAddress>()
            .Distinct()
            .ToList();

        // The same rules as the LB pods: a Service may not claim this node's addresses or special-purpose ranges.
        var reserved = new ProtectedAddresses(node, BgpSettings.Default);
        var destinations = new SortedDictionary<string, IPNetwork>(StringComparer.Ordinal);
        foreach (var service in snapshot.Services.Where(DesiredStateBuilder.IsServed))
        {
            var key = ObjectKey.Of(service);
            if (only is { Count: > 0 } && !only.Contains(new ServiceName(key.Namespace, key.Name))) continue;
            foreach (var address in ServiceAddresses.Resolve(service, reserved, (field, message) => errors.Add(new ObjectError(key, field, message))))
            {
                destinations.TryAdd(address.Network.ToString(), address.Network);
            }
        }

        var routes = new List<NodeRoute>();
        foreach (var destination in destinations.Values)
        {
            var via = lbPods.Where(p => p.AddressFamily == destination.BaseAddress.AddressFamily).Order(AddressComparer.Instance).ToValueList();
            if (via.Count > 0) routes.Add(new NodeRoute(destination, via));
        }
        return (routes, errors);
    }

    private sealed class AddressComparer : IComparer<IPAddress>
    {
        public static AddressComparer Instance { get; } = new();

        public int Compare(IPAddress? x, IPAddress? y) => x!.GetAddressBytes().AsSpan().SequenceCompareTo(y!.GetAddressBytes());
    }
}
