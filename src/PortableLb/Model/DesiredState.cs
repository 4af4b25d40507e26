using System.Net;
using PortableLb.Common;
using PortableLb.Tuning;

namespace PortableLb.Model;

public readonly record struct ServiceName(string Namespace, string Name) : IComparable<ServiceName>
{
    public int CompareTo(ServiceName other)
    {
        var byNamespace = string.CompareOrdinal(Namespace, other.Namespace);
        return byNamespace != 0 ? byNamespace : string.CompareOrdinal(Name, other.Name);
    }

    public override string ToString() => $"{Namespace}/{Name}";
}

public enum Protocol { Tcp, Udp, Sctp }

/// <summary>What a virtual server listens on: one address and port, or every packet carrying a firewall mark.</summary>
public abstract record VirtualAddress
{
    public sealed record Socket(IPAddress Address, int Port, Protocol Protocol) : VirtualAddress;

    /// <summary>A prefix VIP (thesis Fig. 5.3): packets to Prefix with this protocol and port get Mark, and IPVS matches the mark.</summary>
    public sealed record Fwmark(uint Mark, IPNetwork Prefix, int Port, Protocol Protocol) : VirtualAddress;
}

/// <summary>Why a real server has the weight it has; metrics and logs count by it.</summary>
public enum RealServerState
{
    /// <summary>conditions.ready.</summary>
    Ready,

    /// <summary>Terminating but still serving: weight 0, so existing connections finish and no new ones arrive.</summary>
    Draining,

    /// <summary>Terminating and serving while nothing in its virtual server is ready (KEP-1669): it keeps its weight.</summary>
    TerminatingFallback,
}

/// <summary>The checker keepalived runs; "tcp" in the tuning means a connect check in the virtual server's own protocol.</summary>
public enum CheckKind { None, Tcp, Udp, Http, Https }

public sealed record HealthCheck(CheckKind Kind, int ConnectTimeout, int Retry, int DelayBeforeRetry, int Port, string Path, int StatusCode);

public sealed record RealServer(IPAddress Address, int Port, int Weight, long UpperThreshold, RealServerState State, HealthCheck Check);

public sealed record VirtualServer(
    ServiceName Service,
    VirtualAddress Address,
    Scheduler Scheduler,
    Forwarding Forwarding,
    int DelayLoop,
    int PersistenceTimeout,
    ValueList<RealServer> RealServers);

public sealed record BgpNeighbor(IPAddress Peer, IPAddress RouterId, IPAddress LocalAddress, long LocalAs, long PeerAs, int HoldTime)
{
    public string? Md5Password { get; init; }
}

/// <summary>One route exabgp announces. Several Services may share an address; the route names them all.</summary>
public sealed record Announcement(IPNetwork Prefix, IPAddress NextHop, ValueList<ServiceName> Services);

/// <summary>BGP as rendered: null in DesiredState when no peer is configured.</summary>
public sealed record BgpConfig(ValueList<BgpNeighbor> Neighbors, ValueList<string> Communities);

/// <summary>
/// One VIP held by VRRP (L2 mode): the LB pod whose priority is highest holds it on its node's interface and answers
/// ARP/NDP for it. Priorities follow <see cref="MasterAssignment"/>, so every pod renders the same order.
/// </summary>
public sealed record VrrpInstance(IPAddress Vip, int RouterId, int Priority, IPAddress Source, ValueList<IPAddress> Peers, string Master, ValueList<ServiceName> Services);

/// <summary>L2 mode as rendered: null in DesiredState in bgp mode.</summary>
public sealed record VrrpConfig(string Interface, int AdvertIntervalCentiseconds, int PreemptDelay, ValueList<VrrpInstance> Instances);

/// <summary>
/// Everything the node should be running, derived purely from the cluster and the tuning.
/// Records with value semantics, so "nothing changed" is a plain equality test.
/// </summary>
public sealed record DesiredState(
    ValueList<VirtualServer> VirtualServers,
    BgpConfig? Bgp,
    ValueList<Announcement> Announcements)
{
    public static DesiredState Empty { get; } = new(ValueList<VirtualServer>.Empty, null, ValueList<Announcement>.Empty);

    /// <summary>The Services' spec.loadBalancerSourceRanges, per address and port; the data plane enforces them.</summary>
    public ValueList<SourceFilter> SourceFilters { get; init; } = ValueList<SourceFilter>.Empty;

    /// <summary>L2 mode: the VRRP instances keepalived runs beside the virtual servers; null in bgp mode.</summary>
    public VrrpConfig? Vrrp { get; init; }

    public IEnumerable<VirtualAddress.Fwmark> PacketMarks => VirtualServers.Select(v => v.Address).OfType<VirtualAddress.Fwmark>();
}
