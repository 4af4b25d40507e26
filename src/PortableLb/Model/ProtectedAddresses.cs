using System.Net;
using PortableLb.Common;
using PortableLb.Tuning;

namespace PortableLb.Model;

/// <summary>
/// Addresses no Service may claim. Every Service address becomes a local route in the LB pod's network namespace,
/// so claiming a BGP peer's address (or a prefix around it) would cut the pod's sessions, and claiming the pod's own
/// address or loopback would make it deaf; special-purpose ranges are never load-balancer addresses anyway.
/// </summary>
public sealed class ProtectedAddresses
{
    private readonly List<(IPNetwork Network, string What)> _protected = [.. IpText.SpecialPurpose];

    public ProtectedAddresses(NodeAddresses node, BgpSettings bgp)
    {
        Add(node.NodeIPv4, "this node's address (--node-ip)");
        Add(node.NodeIPv6, "this node's address (--node-ip)");
        Add(node.PodIPv4, "this pod's address (--pod-ip)");
        Add(node.PodIPv6, "this pod's address (--pod-ip)");
        foreach (var peer in bgp.Peers) Add(peer, "the BGP peer (bgp.peers)");
        Add(bgp.LocalAddress, "bgp.localAddress");
        Add(bgp.RouterId, "bgp.routerId");
        if (bgp.NextHop is NextHopChoice.Literal literal) Add(literal.Address, "bgp.nextHop");
    }

    /// <returns>What the network overlaps, in words; null when a Service may claim it.</returns>
    public string? Conflict(IPNetwork network)
    {
        foreach (var (reserved, what) in _protected)
        {
            if (reserved.BaseAddress.AddressFamily != network.BaseAddress.AddressFamily) continue;
            if (!reserved.Contains(network.BaseAddress) && !network.Contains(reserved.BaseAddress)) continue;
            return what;
        }
        return null;
    }

    private void Add(IPAddress? address, string what)
    {
        if (address is not null) _protected.Add((new IPNetwork(address, address.GetAddressBytes().Length * 8), $"{what}, {address}"));
    }
}
