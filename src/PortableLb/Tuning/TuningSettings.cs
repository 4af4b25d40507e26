using System.Net;
using PortableLb.Common;

namespace PortableLb.Tuning;

/// <summary>IPVS schedulers that keepalived's lb_algo accepts, named as ipvsadm names them.</summary>
public enum Scheduler { Rr, Wrr, Lc, Wlc, Lblc, Lblcr, Dh, Sh, Sed, Nq, Mh }

public enum Forwarding { Nat, Dr, Tun }

public enum HealthCheckType { Tcp, Http, Https, None }

public enum AnnounceMode { WhenServing, Always }

/// <summary>
/// status.loadBalancer.ingress[].ipMode. VIP: kube-proxy also delivers the address inside the cluster, straight to
/// the endpoints (the LB pods never see that traffic). Proxy: kube-proxy leaves the address alone, so in-cluster
/// clients go through the LB pods like outside ones (README: Service status).
/// </summary>
public enum IngressMode { Vip, Proxy }

/// <summary>How clients reach the Service addresses: BGP announcements to a router (the thesis), or VRRP on the nodes' L2 segment.</summary>
public enum LbMode { Bgp, L2 }

/// <summary>
/// The tuning's `l2` section. Each VIP is a VRRP instance; its router id comes from [FirstRouterId, LastRouterId],
/// which must not overlap other VRRP users on the same segment.
/// </summary>
public sealed record L2Settings(string? Interface, int FirstRouterId, int LastRouterId, int AdvertIntervalCentiseconds, int PreemptDelay)
{
    public static L2Settings Default { get; } = new(null, 1, 255, 100, 30);
}

public sealed record HealthCheckSettings(
    HealthCheckType Type,
    int ConnectTimeout,
    int Retry,
    int DelayBeforeRetry,
    int Port,
    string Path,
    int StatusCode)
{
    public static HealthCheckSettings Default { get; } = new(HealthCheckType.Tcp, 5, 3, 2, 0, "/", 200);
}

public sealed record VirtualServerSettings(
    Scheduler Scheduler,
    Forwarding Forwarding,
    int DelayLoop,
    int PersistenceTimeout,
    long UpperThreshold,
    int Weight,
    HealthCheckSettings HealthCheck)
{
    public static VirtualServerSettings Default { get; } = new(Scheduler.Lc, Forwarding.Nat, 5, 0, 0, 1, HealthCheckSettings.Default);
}

/// <summary>Where announcements point: the node (thesis default), the pod itself, or a fixed address.</summary>
public abstract record NextHopChoice
{
    public sealed record Node : NextHopChoice;
    public sealed record Pod : NextHopChoice;
    public sealed record Literal(IPAddress Address) : NextHopChoice;
}

public sealed record BgpSettings(
    long LocalAs,
    long PeerAs,
    ValueList<IPAddress> Peers,
    int HoldTime,
    IPAddress? RouterId,
    IPAddress? LocalAddress,
    NextHopChoice NextHop,
    ValueList<string> Communities,
    AnnounceMode Announce)
{
    public static BgpSettings Default { get; } = new(
        65021, 65021, ValueList<IPAddress>.Empty, 90, null, null, new NextHopChoice.Node(), ValueList<string>.Empty, AnnounceMode.WhenServing);

    public bool Enabled => Peers.Count > 0;

    /// <summary>TCP-MD5 (RFC 2385) password for every peer; from a Secret, never from config.yaml.</summary>
    public string? Md5Password { get; init; }
}

/// <summary>The parsed config.yaml: defaults for every virtual server, BGP, and per-Service overrides already merged.</summary>
public sealed record TuningSettings(
    VirtualServerSettings VirtualServer,
    BgpSettings Bgp,
    IReadOnlyDictionary<string, VirtualServerSettings> Services)
{
    public static TuningSettings Default { get; } = new(VirtualServerSettings.Default, BgpSettings.Default, new Dictionary<string, VirtualServerSettings>());

    /// <summary>
    /// Where Services without an address get one (the tuning's `pools`). With none, every Service names its own
    /// addresses; with any, a Service's own addresses must lie in a pool.
    /// </summary>
    public ValueList<AddressPool> Pools { get; init; } = ValueList<AddressPool>.Empty;

    /// <summary>bgp (the thesis: exabgp announces to a router) or l2 (keepalived's VRRP holds each VIP on one LB pod's node).</summary>
    public LbMode Mode { get; init; } = LbMode.Bgp;

    public L2Settings L2 { get; init; } = L2Settings.Default;

    /// <summary>What ipMode the Services' status shows (the tuning's status.ipMode).</summary>
    public IngressMode IpMode { get; init; } = IngressMode.Vip;

    public VirtualServerSettings For(string namespacedName) =>
        Services.TryGetValue(namespacedName, out var settings) ? settings : VirtualServer;
}
