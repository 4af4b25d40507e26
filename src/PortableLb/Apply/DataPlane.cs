using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Tuning;

namespace PortableLb.Apply;

/// <summary>
/// The data plane after an apply: each problem, in words (empty when complete). Unfinished says a route or the
/// ruleset was not installed (nft or ip failed or timed out), so the same apply is due again; a sysctl that is off
/// is only reported, as no retry by the controller could change it.
/// </summary>
public sealed record DataPlaneResult(IReadOnlyList<string> Warnings, bool Unfinished = false);

/// <summary>
/// What the LB pod's own network namespace needs besides IPVS, reconciled like the config files:
/// each Service address is accepted as local (thesis 5.3: "a routing rule to accept the packets toward those IPs
/// as local"), prefix addresses get the packet marks their fwmark virtual servers match, sources outside a Service's
/// loadBalancerSourceRanges are dropped, what IPVS NAT forwards is masqueraded so replies come back through this pod,
/// and the sysctls that make removal, draining and the NAT
/// return path work are checked. Without NET_ADMIN, or on a kernel without IPVS, each step that cannot
/// be done becomes a warning, never a crash.
/// </summary>
public sealed class DataPlane(IProcessRunner runner, string procSys = "/proc/sys")
{
    public const string NftTable = "portable_lb";

    /// <summary>
    /// The routing protocol number every local route of ours carries (`ip route … proto 201`; unassigned in iproute2's
    /// rt_protos). Only routes with it are ever deleted, so the pod's own local routes are never touched, and the
    /// ones an earlier run left behind are found and removed at start-up.
    /// </summary>
    public const int RouteProtocol = 201;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The IPVS sysctls, each with its reason:
    /// expire_nodest_conn drops connections to a removed real server at once instead of black-holing them;
    /// expire_quiescent_template drops persistence entries to a weight-0 (draining) server so sticky clients move on;
    /// conntrack keeps netfilter's connection tracking for IPVS NAT traffic, which the pod's SNAT/masquerade needs.
    /// A container's /proc/sys is read-only, so the pod sets them (securityContext.sysctls, which the kubelet must
    /// allow as unsafe sysctls) and the controller only checks them: a missing one is reported, never written.
    /// </summary>
    public static readonly IReadOnlyList<(string Key, string Value)> Sysctls =
    [
        ("net/ipv4/vs/expire_nodest_conn", "1"),
        ("net/ipv4/vs/expire_quiescent_template", "1"),
        ("net/ipv4/vs/conntrack", "1"),
    ];

    /// <summary>
    /// NAT's return path: a reply, once de-masqueraded, is addressed to the client, so this pod forwards it (and IPVS
    /// reverses its NAT in the forward hook). A pod's namespace starts with forwarding off, which drops every reply.
    /// </summary>
    public static readonly IReadOnlyList<(string Key, string Value)> NatSysctls =
    [
        ("net/ipv4/ip_forward", "1"),
    ];

    private HashSet<IPNetwork>? _routes;
    private string? _ruleset;

    public async Task<DataPlaneResult> ApplyAsync(DesiredState state, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        var unfinished = false;
        // The first apply adopts what an earlier run installed, so the diff below removes what is no longer wanted.
        if (_routes is null)
        {
            var (installed, listed) = await InstalledRoutesAsync(warnings, cancellationToken).ConfigureAwait(false);
            // Adopted only when both families were listed: otherwise an earlier run's routes could be left behind.
            if (listed) _routes = installed;
            else unfinished = true;
        }
        var routes = _routes ?? [];
        // L2 mode: keepalived puts each VIP on its master's interface. A local route on every node would make every
        // node answer ARP for it, so there are none.
        var wanted = state.Vrrp is not null ? [] : state.VirtualServers.Select(v => v.Address switch
        {
            VirtualAddress.Socket s => new IPNetwork(s.Address, s.Address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128),
            VirtualAddress.Fwmark f => f.Prefix,
            _ => throw new InvalidOperationException("unknown virtual address"),
        }).Concat(state.Announcements.Select(a => a.Prefix)).ToHashSet();

        foreach (var network in wanted.Where(n => !routes.Contains(n)))
        {
            if (await IpAsync(network, "replace", warnings, cancellationToken).ConfigureAwait(false)) routes.Add(network);
            else unfinished = true;
        }
        foreach (var network in routes.Where(n => !wanted.Contains(n)).ToList())
        {
            if (await IpAsync(network, "del", warnings, cancellationToken).ConfigureAwait(false)) routes.Remove(network);
            else unfinished = true;
        }

        var ruleset = Ruleset(state);
        if (ruleset != _ruleset)
        {
            var result = await NftCommand.ApplyAsync(runner, ruleset, cancellationToken).ConfigureAwait(false);
            if (result.ExitCode == 0) _ruleset = ruleset;
            else
            {
                warnings.Add($"nft: the packet marks, source filters and masquerade were not installed: {result.StandardError.Trim()}");
                unfinished = true;
            }
        }

        if (state.VirtualServers.Count > 0) CheckSysctls(Sysctls, warnings);
        if (state.VirtualServers.Any(v => v.Forwarding == Forwarding.Nat)) CheckSysctls(NatSysctls, warnings);
        return new DataPlaneResult(warnings, unfinished);
    }

    /// <summary>
    /// The whole table, replaced atomically by one `nft -f`: a mark per fwmark virtual server, set before routing so
    /// IPVS sees it; a drop, per Service address and port with source ranges, of every other source; and the masquerade of what IPVS NAT forwards to its real servers. Without the masquerade, a web
    /// pod on another node answers the client through its own node, the reply bypasses IPVS and the connection
    /// breaks; with it, the reply comes back here. DR and TUN keep the client's address and need no masquerade.
    /// An empty table is kept rather than deleted, so the next apply is a plain replacement.
    /// </summary>
    public static string Ruleset(DesiredState state)
    {
        var text = new StringBuilder();
        text.Append($"table inet {NftTable}\n");
        text.Append($"delete table inet {NftTable}\n");
        text.Append($"table inet {NftTable} {{\n");
        text.Append("    chain prerouting {\n");
        text.Append("        type filter hook prerouting priority mangle; policy accept;\n");
        foreach (var mark in state.PacketMarks)
        {
            var family = mark.Prefix.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? "ip" : "ip6";
            var protocol = mark.Protocol.ToString().ToLowerInvariant();
            text.Append(CultureInfo.InvariantCulture, $"        {family} daddr {mark.Prefix} {protocol} dport {mark.Port} meta mark set {mark.Mark}\n");
        }
        text.Append("    }\n");
        // Before IPVS, which takes its packets in the input hook at a later priority than filter's.
        text.Append("    chain input {\n");
        text.Append("        type filter hook input priority filter; policy accept;\n");
        foreach (var filter in state.SourceFilters)
        {
            var family = filter.Destination.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? "ip" : "ip6";
            var protocol = filter.Protocol.ToString().ToLowerInvariant();
            var sources = filter.Allowed.Count == 0 ? "" : $" {family} saddr != {{ {string.Join(", ", filter.Allowed.Select(a => a.ToString()))} }}";
            // The counter answers "is the filter what stops this client?" (`nft list chain inet portable_lb input`).
            text.Append(CultureInfo.InvariantCulture, $"        {family} daddr {filter.Destination} {protocol} dport {filter.Port}{sources} counter drop\n");
        }
        text.Append("    }\n");
        text.Append("    chain postrouting {\n");
        text.Append("        type nat hook postrouting priority srcnat; policy accept;\n");
        var natServers = state.VirtualServers.Where(v => v.Forwarding == Forwarding.Nat).ToList();
        var natted = natServers.SelectMany(v => v.RealServers).Select(r => r.Address).Distinct().ToList();
        var vips = natServers.Select(v => v.Address).OfType<VirtualAddress.Socket>().Select(s => s.Address).Distinct().ToList();
        foreach (var (family, addressFamily) in new[] { ("ip", AddressFamily.InterNetwork), ("ip6", AddressFamily.InterNetworkV6) })
        {
            var servers = Sorted(natted, addressFamily);
            if (servers.Count == 0) continue;
            // L2 mode runs in the node's namespace, where other traffic reaches these pods too (kube-proxy's, the
            // kubelet's): only connections first addressed to a VIP are masqueraded there.
            var toVip = "";
            if (state.Vrrp is not null)
            {
                var familyVips = Sorted(vips, addressFamily);
                if (familyVips.Count == 0) continue;
                toVip = $"ct original {family} daddr {{ {string.Join(", ", familyVips)} }} ";
            }
            text.Append(CultureInfo.InvariantCulture, $"        {toVip}{family} daddr {{ {string.Join(", ", servers)} }} masquerade\n");
        }
        text.Append("    }\n}\n");
        return text.ToString();
    }

    private static List<string> Sorted(IEnumerable<IPAddress> addresses, AddressFamily family) =>
        addresses.Where(a => a.AddressFamily == family).Select(a => a.ToString()).Order(StringComparer.Ordinal).ToList();

    private async Task<bool> IpAsync(IPNetwork network, string verb, List<string> warnings, CancellationToken cancellationToken)
    {
        var family = network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? "-4" : "-6";
        var result = await RunAsync("ip", [family, "route", verb, "local", network.ToString(), "dev", "lo", "table", "local", "proto", Protocol], cancellationToken).ConfigureAwait(false);
        if (result.ExitCode == 0) return true;
        warnings.Add($"ip route {verb} local {network} dev lo proto {Protocol}: {result.StandardError.Trim()}");
        return false;
    }

    private static readonly string Protocol = RouteProtocol.ToString(CultureInfo.InvariantCulture);

    /// <summary>The local routes carrying our protocol number: installed by this controller, now or before a restart.</summary>
    private async Task<(HashSet<IPNetwork> Installed, bool Listed)> InstalledRoutesAsync(List<string> warnings, CancellationToken cancellationToken)
    {
        var installed = new HashSet<IPNetwork>();
        var listed = true;
        foreach (var family in new[] { "-4", "-6" })
        {
            var result = await RunAsync("ip", [family, "-j", "route", "show", "table", "local", "proto", Protocol], cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0)
            {
                warnings.Add($"ip {family} route show table local proto {Protocol}: {result.StandardError.Trim()}");
                listed = false;
                continue;
            }
            using var routes = System.Text.Json.JsonDocument.Parse(result.StandardOutput is { Length: > 0 } json ? json : "[]");
            foreach (var route in routes.RootElement.EnumerateArray())
            {
                if (route.TryGetProperty("dst", out var dst) && IpText.TryParseAddressOrPrefix(dst.GetString() ?? "", out var network, out _)) installed.Add(network);
            }
        }
        return (installed, listed);
    }

    private void CheckSysctls(IReadOnlyList<(string Key, string Value)> sysctls, List<string> warnings)
    {
        foreach (var (key, value) in sysctls)
        {
            var name = key.Replace('/', '.');
            var path = Path.Combine(procSys, key);
            try
            {
                var actual = File.ReadAllText(path).Trim();
                if (actual != value) warnings.Add($"sysctl {name} is {actual}, not {value}: set it in the pod's securityContext.sysctls (the kubelet must allow it as an unsafe sysctl)");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warnings.Add($"sysctl {name} cannot be read ({e.Message}): is ip_vs loaded on the node?");
            }
        }
    }

    private async Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        try
        {
            return await runner.RunAsync(program, arguments, null, Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MissingProgramException or TimeoutException)
        {
            return new ProcessResult(-1, "", e.Message);
        }
    }
}
