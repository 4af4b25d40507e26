using System.Globalization;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.Rendering;

/// <summary>
/// What the templates see (documented in templates/README.md; the renderer names `VirtualServers` as
/// `virtualServers`). Every decision about what a daemon needs, such as keepalived's keywords and which lines to leave
/// out, is made here in code, so the templates only lay text out. Properties are computed on first use: a virtual
/// server whose text comes from the memo cache never builds its real servers' views.
/// </summary>
public sealed class IpvsView(DesiredState state, string? reloadFile = null)
{
    /// <summary>keepalived's reload_file handshake path, when `portable-lb run` confirms reloads with it; else null.</summary>
    public string? ReloadFile => reloadFile;

    public IReadOnlyList<VirtualServerView> VirtualServers { get; } = state.VirtualServers.Select(v => new VirtualServerView(v)).ToList();

    /// <summary>L2 mode's VRRP instances; empty in bgp mode.</summary>
    public IReadOnlyList<VrrpInstanceView> VrrpInstances { get; } = state.Vrrp is { } vrrp ? vrrp.Instances.Select(i => new VrrpInstanceView(i, vrrp)).ToList() : [];
}

/// <summary>
/// One vrrp_instance. Every one is VRRPv3 (so advert_int may be below a second, RFC 5798) and starts as BACKUP,
/// which preempt_delay requires: a pod that (re)starts waits before it takes its VIPs back.
/// </summary>
public sealed class VrrpInstanceView(VrrpInstance instance, VrrpConfig config)
{
    /// <summary>keepalived's instance name: one token, from the address ("vip_192_0_2_10", "vip_2001_db8__1").</summary>
    public string Name => "vip_" + instance.Vip.ToString().Replace('.', '_').Replace(':', '_');

    public string Comment => $"{string.Join(" ", instance.Services)}: master {instance.Master}";
    public string Interface => config.Interface;
    public int RouterId => instance.RouterId;
    public int Priority => instance.Priority;
    public string AdvertInterval => (config.AdvertIntervalCentiseconds / 100m).ToString("0.##", CultureInfo.InvariantCulture);
    public int PreemptDelay => config.PreemptDelay;

    /// <summary>Null for a lone LB pod: keepalived refuses unicast without peers, so it advertises by multicast to nobody.</summary>
    public string? Source => instance.Peers.Count > 0 ? instance.Source.ToString() : null;

    public IReadOnlyList<string> Peers => instance.Peers.Select(p => p.ToString()).ToList();
    public string Address => $"{instance.Vip}/{(instance.Vip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)}";
}

public sealed class VirtualServerView(VirtualServer vs) : IMemoKey
{
    private IReadOnlyList<RealServerView>? _realServers;

    public object MemoKey => vs;

    public string Service => vs.Service.ToString();

    public string Description => vs.Address switch
    {
        VirtualAddress.Socket s => $"{s.Address} {Keyword(s.Protocol)}/{s.Port}",
        VirtualAddress.Fwmark f => $"{f.Prefix} {Keyword(f.Protocol)}/{f.Port}",
        _ => throw new InvalidOperationException("unknown virtual address"),
    };

    public string Address => vs.Address switch
    {
        VirtualAddress.Socket s => $"{s.Address} {s.Port}",
        VirtualAddress.Fwmark f => $"fwmark {f.Mark}",
        _ => throw new InvalidOperationException("unknown virtual address"),
    };

    public int DelayLoop => vs.DelayLoop;
    public string Scheduler => vs.Scheduler.ToString().ToLowerInvariant();
    public string Forwarding => vs.Forwarding.ToString().ToUpperInvariant();

    /// <summary>keepalived warns (and `-t` fails) on `protocol` in a fwmark server.</summary>
    public string? Protocol => vs.Address is VirtualAddress.Socket s ? Keyword(s.Protocol) : null;

    /// <summary>keepalived rejects persistence_timeout 0; leaving the line out is how it says "off".</summary>
    public int? PersistenceTimeout => vs.PersistenceTimeout > 0 ? vs.PersistenceTimeout : null;

    /// <summary>A fwmark server under DR/TUN takes no real-server port: IPVS cannot rewrite it, and keepalived warns.</summary>
    public IReadOnlyList<RealServerView> RealServers => _realServers ??= vs.RealServers
        .Select(rs => new RealServerView(rs, withPort: vs.Address is VirtualAddress.Socket || vs.Forwarding == Tuning.Forwarding.Nat))
        .ToList();

    private static string Keyword(Protocol protocol) => protocol.ToString().ToUpperInvariant();
}

public sealed class RealServerView(RealServer rs, bool withPort)
{
    public string Address => withPort ? $"{rs.Address} {rs.Port}" : rs.Address.ToString();
    public int Weight => rs.Weight;
    public long UpperThreshold => rs.UpperThreshold;

    public string? Note => rs.State switch
    {
        RealServerState.Ready => null,
        RealServerState.Draining => "terminating: weight 0 while its connections drain",
        _ => "terminating, but nothing in this virtual server is ready: keeps its weight (KEP-1669)",
    };

    public CheckView? Check => rs.Check.Kind == CheckKind.None ? null : new CheckView(rs.Check);
}

public sealed class CheckView(HealthCheck check)
{
    public string Kind => check.Kind switch
    {
        CheckKind.Tcp => "TCP_CHECK",
        CheckKind.Udp => "UDP_CHECK",
        CheckKind.Http => "HTTP_GET",
        CheckKind.Https => "SSL_GET",
        _ => throw new InvalidOperationException("no checker to render"),
    };

    public UrlView? Url => check.Kind is CheckKind.Http or CheckKind.Https ? new UrlView(check.Path, check.StatusCode) : null;
    public int ConnectTimeout => check.ConnectTimeout;
    public int Port => check.Port;
    public int Retry => check.Retry;
    public int DelayBeforeRetry => check.DelayBeforeRetry;
}

public sealed record UrlView(string Path, int StatusCode);

public sealed class ExabgpView(DesiredState state)
{
    public bool Enabled => state.Bgp is not null;

    public IReadOnlyList<RouteView> Routes { get; } = state.Announcements.Select(a => new RouteView(a, state.Bgp?.Communities ?? ValueList<string>.Empty)).ToList();

    public IReadOnlyList<NeighborView> Neighbors => (state.Bgp?.Neighbors ?? ValueList<BgpNeighbor>.Empty).Select(n => new NeighborView(n)).ToList();
}

/// <summary>A peer; every peer gets the same routes (the top-level `routes`).</summary>
public sealed class NeighborView(BgpNeighbor neighbor)
{
    public string Peer => neighbor.Peer.ToString();
    public string RouterId => neighbor.RouterId.ToString();
    public string LocalAddress => neighbor.LocalAddress.ToString();
    public string LocalAs => neighbor.LocalAs.ToString(CultureInfo.InvariantCulture);
    public string PeerAs => neighbor.PeerAs.ToString(CultureInfo.InvariantCulture);
    public string HoldTime => neighbor.HoldTime.ToString(CultureInfo.InvariantCulture);

    /// <summary>Already restricted to printable ASCII without quotes or backslashes, so it can sit in quotes.</summary>
    public string? Md5Password => neighbor.Md5Password;
}

public sealed class RouteView(Announcement announcement, ValueList<string> communities)
{
    public string Prefix => announcement.Prefix.ToString();
    public string NextHop => announcement.NextHop.ToString();
    public string Services => string.Join(" ", announcement.Services);
    public string Attributes => communities.Count == 0 ? "" : $" community [{string.Join(" ", communities)}]";
}
