using System.Net;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.Apply;

/// <summary>
/// The node's routes as plain (multipath) routes: what every kernel has. Any change of the next hops rehashes the
/// flows across them, so connections in flight can move to another LB pod; see <see cref="NodeRouteTable"/>.
/// </summary>
internal sealed class MultipathRoutes(IpCommand ip) : INodeRouteWriter
{
    public string Kind => "multipath routes";

    public async Task<Dictionary<IPNetwork, NodeRoute?>> AdoptAsync(List<string> failures, CancellationToken cancellationToken)
    {
        var adopted = new Dictionary<IPNetwork, NodeRoute?>();
        foreach (var network in await OurRoutesAsync(ip, failures, cancellationToken).ConfigureAwait(false)) adopted[network.Destination] = null;
        return adopted;
    }

    public Task<bool> SetAsync(NodeRoute route, List<string> failures, CancellationToken cancellationToken)
    {
        List<string> hops = route.Via.Count == 1
            ? ["via", route.Via[0].ToString()]
            : [.. route.Via.SelectMany(a => new[] { "nexthop", "via", a.ToString() })];
        return ip.MustAsync([IpCommand.Family(route.Destination.BaseAddress), "route", "replace", route.Destination.ToString(), "table", "main", "proto", IpCommand.Protocol, .. hops], failures, cancellationToken);
    }

    public Task<bool> RemoveAsync(IPNetwork destination, List<string> failures, CancellationToken cancellationToken) =>
        ip.MustAsync([IpCommand.Family(destination.BaseAddress), "route", "del", destination.ToString(), "table", "main", "proto", IpCommand.Protocol], failures, cancellationToken);

    public Task CollectGarbageAsync(List<string> failures, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Our routes in the main table, both families, each with the nexthop object it uses (if any).</summary>
    public static async Task<List<(IPNetwork Destination, uint? NexthopId)>> OurRoutesAsync(IpCommand ip, List<string> failures, CancellationToken cancellationToken)
    {
        var routes = new List<(IPNetwork, uint?)>();
        foreach (var family in new[] { "-4", "-6" })
        {
            using var json = await ip.JsonAsync([family, "route", "show", "table", "main", "proto", IpCommand.Protocol], failures, cancellationToken).ConfigureAwait(false);
            if (json is null) continue;
            foreach (var route in json.RootElement.EnumerateArray())
            {
                if (route.TryGetProperty("dst", out var dst) && IpText.TryParseAddressOrPrefix(dst.GetString() ?? "", out var network, out _))
                {
                    routes.Add((network, route.TryGetProperty("nhid", out var id) ? id.GetUInt32() : null));
                }
            }
        }
        return routes;
    }
}
