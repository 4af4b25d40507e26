using System.Globalization;

using PortableLb.Model;
using PortableLb.Tuning;

namespace PortableLb.Rendering;

/// <summary>
/// Turns DesiredState into the variables the templates see (documented in templates/README.md). Every decision
/// about what a daemon needs (keepalived's keywords, which lines to leave out) is made here, in code, so the
/// templates only lay text out.
/// </summary>
public static class TemplateModel
{
    public static Dictionary<string, object?> ForIpvs(DesiredState state) => new()
    {
        ["virtualServers"] = state.VirtualServers.Select(VirtualServerView).ToList(),
    };

    public static Dictionary<string, object?> ForExabgp(DesiredState state)
    {
        var communities = state.Bgp?.Communities ?? ValueList<string>.Empty;
        var routes = state.Announcements.Select(a => new Dictionary<string, object?>
        {
            ["prefix"] = a.Prefix.ToString(),
            ["nextHop"] = a.NextHop.ToString(),
            ["services"] = string.Join(" ", a.Services),
            ["attributes"] = communities.Count == 0 ? "" : $" community [{string.Join(" ", communities)}]",
        }).ToList();
        var neighbors = (state.Bgp?.Neighbors ?? ValueList<BgpNeighbor>.Empty).Select(n => new Dictionary<string, object?>
        {
            ["peer"] = n.Peer.ToString(),
            ["routerId"] = n.RouterId.ToString(),
            ["localAddress"] = n.LocalAddress.ToString(),
            ["localAs"] = n.LocalAs.ToString(CultureInfo.InvariantCulture),
            ["peerAs"] = n.PeerAs.ToString(CultureInfo.InvariantCulture),
            ["holdTime"] = n.HoldTime.ToString(CultureInfo.InvariantCulture),
            ["routes"] = routes,
        }).ToList();
        return new Dictionary<string, object?>
        {
            ["enabled"] = state.Bgp is not null,
            ["neighbors"] = neighbors,
            ["routes"] = routes,
        };
    }

    private static Dictionary<string, object?> VirtualServerView(VirtualServer vs)
    {
        var (address, protocol, description, realServerHasPort) = vs.Address switch
        {
            VirtualAddress.Socket s => ($"{s.Address} {s.Port}", Keyword(s.Protocol), $"{s.Address} {Keyword(s.Protocol)}/{s.Port}", true),
            // keepalived warns (and `-t` fails) on `protocol` in a fwmark server, and on real-server ports under DR/TUN,
            // where IPVS cannot rewrite the port anyway.
            VirtualAddress.Fwmark f => ($"fwmark {f.Mark}", null, $"{f.Prefix} {Keyword(f.Protocol)}/{f.Port}", vs.Forwarding == Forwarding.Nat),
            _ => throw new InvalidOperationException("unknown virtual address"),
        };
        return new Dictionary<string, object?>
        {
            ["service"] = vs.Service.ToString(),
            ["description"] = description,
            ["address"] = address,
            ["delayLoop"] = vs.DelayLoop,
            ["scheduler"] = vs.Scheduler.ToString().ToLowerInvariant(),
            ["forwarding"] = vs.Forwarding.ToString().ToUpperInvariant(),
            ["protocol"] = protocol,
            // keepalived rejects persistence_timeout 0; leaving the line out is how it says "off".
            ["persistenceTimeout"] = vs.PersistenceTimeout > 0 ? vs.PersistenceTimeout : null,
            ["realServers"] = vs.RealServers.Select(rs => RealServerView(rs, realServerHasPort)).ToList(),
        };
    }

    private static Dictionary<string, object?> RealServerView(RealServer rs, bool withPort) => new()
    {
        ["address"] = withPort ? $"{rs.Address} {rs.Port}" : rs.Address.ToString(),
        ["weight"] = rs.Weight,
        ["upperThreshold"] = rs.UpperThreshold,
        ["note"] = rs.State switch
        {
            RealServerState.Ready => null,
            RealServerState.Draining => "terminating: weight 0 while its connections drain",
            _ => "terminating, but nothing in this virtual server is ready: keeps its weight (KEP-1669)",
        },
        ["check"] = CheckView(rs.Check),
    };

    private static Dictionary<string, object?>? CheckView(HealthCheck check)
    {
        var keyword = check.Kind switch
        {
            CheckKind.Tcp => "TCP_CHECK",
            CheckKind.Udp => "UDP_CHECK",
            CheckKind.Http => "HTTP_GET",
            CheckKind.Https => "SSL_GET",
            _ => null,
        };
        if (keyword is null) return null;
        return new Dictionary<string, object?>
        {
            ["kind"] = keyword,
            ["url"] = check.Kind is CheckKind.Http or CheckKind.Https
                ? new Dictionary<string, object?> { ["path"] = check.Path, ["statusCode"] = check.StatusCode }
                : null,
            ["connectTimeout"] = check.ConnectTimeout,
            ["port"] = check.Port,
            ["retry"] = check.Retry,
            ["delayBeforeRetry"] = check.DelayBeforeRetry,
        };
    }

    private static string Keyword(Protocol protocol) => protocol.ToString().ToUpperInvariant();
}
