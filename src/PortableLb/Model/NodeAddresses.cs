using System.Net;
using System.Net.Sockets;
using PortableLb.Common;

namespace PortableLb.Model;

/// <summary>This LB pod's own addresses, at most one per family for the node and for the pod (dual-stack has both).</summary>
public sealed record NodeAddresses(IPAddress? NodeIPv4, IPAddress? NodeIPv6, IPAddress? PodIPv4, IPAddress? PodIPv6)
{
    public static NodeAddresses None { get; } = new(null, null, null, null);

    /// <summary>The network interface that holds the pod's address, found at start; where L2 mode puts the VIPs unless the tuning names one.</summary>
    public string? Interface { get; init; }

    public IPAddress? Node(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? NodeIPv6 : NodeIPv4;
    public IPAddress? Pod(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? PodIPv6 : PodIPv4;

    /// <summary>Sorts repeated --node-ip/--pod-ip values into families; two of one family is an error.</summary>
    public static NodeAddresses FromLists(IReadOnlyList<IPAddress> nodeIps, IReadOnlyList<IPAddress> podIps, out IReadOnlyList<string> errors)
    {
        var problems = new List<string>();
        IPAddress? Pick(IReadOnlyList<IPAddress> list, AddressFamily family, string option)
        {
            var matching = list.Where(a => a.AddressFamily == family).ToList();
            if (matching.Count > 1) problems.Add($"{option} was given more than one {IpText.FamilyName(family)} address ({string.Join(", ", matching)}); give at most one per family");
            return matching.FirstOrDefault();
        }
        var result = new NodeAddresses(
            Pick(nodeIps, AddressFamily.InterNetwork, "--node-ip"), Pick(nodeIps, AddressFamily.InterNetworkV6, "--node-ip"),
            Pick(podIps, AddressFamily.InterNetwork, "--pod-ip"), Pick(podIps, AddressFamily.InterNetworkV6, "--pod-ip"));
        errors = problems;
        return result;
    }
}
