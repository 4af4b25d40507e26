using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.Apply;

/// <summary>
/// Keeps the node's routes to its LB pods, in the node's main table, each marked with our protocol number
/// (<see cref="DataPlane.RouteProtocol"/>): only routes with it are changed or deleted, and the ones an earlier run
/// left behind are adopted at the first apply and removed if no longer wanted. Several ready LB pods on one node
/// share one multipath route.
/// </summary>
public sealed class NodeRouteTable(IProcessRunner runner)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly string Protocol = DataPlane.RouteProtocol.ToString(CultureInfo.InvariantCulture);

    // Destination → next hops as installed; adopted routes start with none known, so they are replaced.
    private Dictionary<IPNetwork, ValueList<IPAddress>>? _installed;

    /// <returns>What could not be done, in words; empty when the table matches.</returns>
    public async Task<IReadOnlyList<string>> ApplyAsync(IReadOnlyList<NodeRoute> wanted, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        _installed ??= await AdoptAsync(failures, cancellationToken).ConfigureAwait(false);
        foreach (var route in wanted)
        {
            if (_installed.TryGetValue(route.Destination, out var via) && via.Equals(route.Via)) continue;
            List<string> hops = route.Via.Count == 1
                ? ["via", route.Via[0].ToString()]
                : [.. route.Via.SelectMany(a => new[] { "nexthop", "via", a.ToString() })];
            if (await IpAsync(route.Destination, ["route", "replace", route.Destination.ToString(), "table", "main", "proto", Protocol, .. hops], failures, cancellationToken).ConfigureAwait(false))
            {
                _installed[route.Destination] = route.Via;
            }
        }
        var keep = wanted.Select(r => r.Destination).ToHashSet();
        foreach (var destination in _installed.Keys.Where(d => !keep.Contains(d)).ToList())
        {
            if (await IpAsync(destination, ["route", "del", destination.ToString(), "table", "main", "proto", Protocol], failures, cancellationToken).ConfigureAwait(false))
            {
                _installed.Remove(destination);
            }
        }
        return failures;
    }

    private async Task<Dictionary<IPNetwork, ValueList<IPAddress>>> AdoptAsync(List<string> failures, CancellationToken cancellationToken)
    {
        var adopted = new Dictionary<IPNetwork, ValueList<IPAddress>>();
        foreach (var family in new[] { "-4", "-6" })
        {
            var result = await RunAsync([family, "-j", "route", "show", "table", "main", "proto", Protocol], cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0)
            {
                failures.Add($"ip {family} route show table main proto {Protocol}: {result.StandardError.Trim()}");
                continue;
            }
            using var routes = JsonDocument.Parse(result.StandardOutput is { Length: > 0 } json ? json : "[]");
            foreach (var route in routes.RootElement.EnumerateArray())
            {
                if (route.TryGetProperty("dst", out var dst) && IpText.TryParseAddressOrPrefix(dst.GetString() ?? "", out var network, out _))
                {
                    adopted[network] = ValueList<IPAddress>.Empty;
                }
            }
        }
        return adopted;
    }

    private async Task<bool> IpAsync(IPNetwork destination, IReadOnlyList<string> arguments, List<string> failures, CancellationToken cancellationToken)
    {
        var family = destination.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? "-4" : "-6";
        var result = await RunAsync([family, .. arguments], cancellationToken).ConfigureAwait(false);
        if (result.ExitCode == 0) return true;
        failures.Add($"ip {family} {string.Join(' ', arguments)}: {result.StandardError.Trim()}");
        return false;
    }

    private async Task<ProcessResult> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        try
        {
            return await runner.RunAsync("ip", arguments, null, Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MissingProgramException or TimeoutException)
        {
            return new ProcessResult(-1, "", e.Message);
        }
    }
}
