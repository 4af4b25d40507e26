using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.Apply;

/// <summary>
/// Keeps every connection to a Service address on the LB pod of this node that took its first packet, whatever the
/// node's route does afterwards: a pod joining or leaving its nexthop group, a draining pod's buckets moving, the
/// group rebalancing after its unbalanced timer. A connection moved to another LB pod mid-flight is reset there, for
/// that pod has no IPVS state for it.
/// The first packet's next hop, read in the forward hook, goes into the connection's mark (`ct mark`); the later
/// packets copy it into their own mark before routing, and one rule per pinned pod (`ip rule fwmark`) looks them up
/// in a table that routes to that pod alone. Only the bits of <see cref="FlowMarks"/> are read or written.
/// A pod stays pinned as long as it is on the node with an address, terminating or not, in the route or out of it, so
/// its connections keep it until it stops; new connections follow the route.
/// </summary>
/// <remarks>
/// Every rule and table carries our protocol number, like the routes: only those are changed or deleted, and the
/// ones an earlier run left behind are adopted at the first apply, so a restart of node-routes keeps the pins (the
/// marks live on in the connections) instead of renumbering them.
/// </remarks>
public sealed class FlowPins(IProcessRunner runner, FlowMarks marks)
{
    public const string NftTable = "portable_lb_node";

    /// <summary>Before the main table's rule (32766), well after the local table's (0) and the low numbers CNIs take.</summary>
    public const int RulePriority = 20100;

    // Table ids: "201", our route protocol, in the top bits, plus the slot; clear of the tables CNIs and VRFs number from 1.
    private const uint FirstTable = 201u << 20;

    // Pinned LB pod address → its slot (its mark's value and its table); null until adopted from the kernel.
    private Dictionary<IPAddress, int>? _slots;
    private string? _ruleset;

    public int Pinned => _slots?.Count ?? 0;

    /// <summary>Whether connections are pinned at all (a mask of no bits turns it off).</summary>
    public bool Enabled => marks.Enabled;

    /// <summary>Pins <paramref name="pods"/> (this node's LB pods) and no others, for the destinations of <paramref name="routes"/>.</summary>
    public async Task ApplyAsync(IReadOnlyList<NodeRoute> routes, IReadOnlyCollection<IPAddress> pods, List<string> failures, CancellationToken cancellationToken)
    {
        var ip = new IpCommand(runner);
        // The kernel is the truth, read at every pass: a rule or table removed behind our back is put back.
        var kernel = new List<KernelRule>();
        foreach (var family in new[] { "-4", "-6" })
        {
            if (await ObserveAsync(ip, family, failures, cancellationToken).ConfigureAwait(false) is not { } rules) return;
            kernel.AddRange(rules);
        }
        // A restart keeps the pins an earlier run made: the marks live on in the connections.
        _slots ??= kernel.Where(r => r.Pod is not null && r.Slot > 0).DistinctBy(r => r.Pod).DistinctBy(r => r.Slot).ToDictionary(r => r.Pod!, r => r.Slot);

        var wanted = marks.Enabled ? pods.ToHashSet() : [];
        foreach (var gone in _slots.Keys.Where(a => !wanted.Contains(a)).ToList()) _slots.Remove(gone);
        foreach (var address in wanted.Where(a => !_slots.ContainsKey(a)).Order(AddressOrder.Instance))
        {
            var slot = Enumerable.Range(1, marks.Slots).FirstOrDefault(s => !_slots.ContainsValue(s));
            if (slot == 0) failures.Add($"LB pod {address} not pinned: all {marks.Slots} values of the flow mark mask {marks} are taken by other LB pods on this node");
            else _slots[address] = slot;
        }

        var kept = new HashSet<IPAddress>();
        foreach (var rule in kernel)
        {
            if (rule.Pod is { } pod && _slots.TryGetValue(pod, out var slot) && slot == rule.Slot && kept.Add(pod)) continue;
            await RemoveAsync(ip, rule, failures, cancellationToken).ConfigureAwait(false);
        }
        foreach (var (address, slot) in _slots.Where(p => !kept.Contains(p.Key)).OrderBy(p => p.Value).ToList())
        {
            await PinAsync(ip, address, slot, failures, cancellationToken).ConfigureAwait(false);
        }

        var ruleset = Ruleset(routes.Select(r => r.Destination).ToList(), _slots, marks);
        if (ruleset == _ruleset && await TableMatchesAsync(ruleset, cancellationToken).ConfigureAwait(false)) return;
        var result = await NftCommand.ApplyAsync(runner, ruleset, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode == 0) _ruleset = ruleset;
        else
        {
            _ruleset = null;
            failures.Add($"nft: the flow pins (table inet {NftTable}) were not installed: {result.StandardError.Trim()}");
        }
    }

    /// <summary>
    /// The whole table, replaced atomically by one `nft -f`, or deleted when nothing is pinned. Per pinned pod and
    /// family: in the forward hook, a new connection to a Service address whose route chose the pod gets the pod's
    /// value in its connection mark; before routing, each later packet of a connection with that value gets it in its
    /// packet mark, which the pod's rule routes. Replies (the other direction) are left alone.
    /// </summary>
    public static string Ruleset(IReadOnlyCollection<IPNetwork> destinations, IReadOnlyDictionary<IPAddress, int> slots, FlowMarks marks)
    {
        var steer = new StringBuilder();
        var remember = new StringBuilder();
        var keep = $"0x{~marks.Mask:x8}";
        foreach (var (address, slot) in slots.OrderBy(p => p.Value))
        {
            var (family, route) = address.AddressFamily == AddressFamily.InterNetwork ? ("ip", "rt ip") : ("ip6", "rt ip6");
            var ours = destinations.Where(d => d.BaseAddress.AddressFamily == address.AddressFamily).Select(d => d.ToString()).Distinct().Order(StringComparer.Ordinal).ToList();
            if (ours.Count == 0) continue;
            var daddr = $"{family} daddr {{ {string.Join(", ", ours)} }}";
            var value = $"0x{marks.Value(slot):x8}";
            steer.Append(CultureInfo.InvariantCulture, $"        ct direction original ct mark and {marks} == {value} {daddr} meta mark set meta mark and {keep} or {value}\n");
            remember.Append(CultureInfo.InvariantCulture, $"        ct state new {daddr} {route} nexthop {address} ct mark set ct mark and {keep} or {value}\n");
        }
        var text = new StringBuilder();
        text.Append($"table inet {NftTable}\n");
        text.Append($"delete table inet {NftTable}\n");
        if (steer.Length == 0) return text.ToString();
        text.Append($"table inet {NftTable} {{\n");
        // Before routing, which is what reads the packet mark.
        text.Append("    chain steer {\n");
        text.Append("        type filter hook prerouting priority mangle; policy accept;\n");
        text.Append(steer);
        text.Append("    }\n");
        // After routing, where the route's choice of next hop is known.
        text.Append("    chain remember {\n");
        text.Append("        type filter hook forward priority mangle; policy accept;\n");
        text.Append(remember);
        text.Append("    }\n}\n");
        return text.ToString();
    }

    private async Task<bool> TableMatchesAsync(string ruleset, CancellationToken cancellationToken)
    {
        var wantTable = ruleset.Contains('{', StringComparison.Ordinal);
        try
        {
            var listed = await runner.RunAsync("nft", ["list", "table", "inet", NftTable], null, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            return (listed.ExitCode == 0) == wantTable;
        }
        catch (Exception e) when (e is MissingProgramException or TimeoutException)
        {
            return false;
        }
    }

    private async Task PinAsync(IpCommand ip, IPAddress address, int slot, List<string> failures, CancellationToken cancellationToken)
    {
        if (await ip.DeviceTowardsAsync(address, failures, cancellationToken).ConfigureAwait(false) is not { } device) return;
        var family = IpCommand.Family(address);
        var whole = address.AddressFamily == AddressFamily.InterNetwork ? "0.0.0.0/0" : "::/0";
        // Everything in the table goes to the pod: only marked packets addressed to a Service address look here.
        if (!await ip.MustAsync([family, "route", "replace", whole, "via", address.ToString(), "dev", device, "table", Table(slot), "proto", IpCommand.Protocol],
                failures, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        string[] rule = ["priority", Text(RulePriority), "fwmark", $"0x{marks.Value(slot):x}/0x{marks.Mask:x}", "table", Table(slot), "protocol", IpCommand.Protocol];
        var result = await ip.RunAsync([family, "rule", "add", .. rule], cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0 && !result.StandardError.Contains("File exists", StringComparison.OrdinalIgnoreCase))
        {
            failures.Add($"ip {family} rule add {string.Join(' ', rule)}: {result.StandardError.Trim()}");
        }
    }

    /// <summary>Deletes a rule of ours and empties its table; either being gone already counts as done.</summary>
    private static async Task RemoveAsync(IpCommand ip, KernelRule rule, List<string> failures, CancellationToken cancellationToken)
    {
        foreach (var arguments in new[] { [rule.Family, "rule", "del", .. rule.Selector], new[] { rule.Family, "route", "flush", "table", rule.Table } })
        {
            var result = await ip.RunAsync(arguments, cancellationToken).ConfigureAwait(false);
            if (result.ExitCode == 0 || result.StandardError.Contains("No such", StringComparison.OrdinalIgnoreCase)
                || result.StandardError.Contains("does not exist", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            failures.Add($"ip {string.Join(' ', arguments)}: {result.StandardError.Trim()}");
        }
    }

    /// <summary>A rule of ours as the kernel holds it: the pod its table routes to and its slot, when both fit this run's mask.</summary>
    private sealed record KernelRule(string Family, IReadOnlyList<string> Selector, string Table, int Slot, IPAddress? Pod);

    /// <summary>Every rule of ours in one family, with the pod of its table; null, with the failure recorded, when `ip` cannot list them.</summary>
    private async Task<List<KernelRule>?> ObserveAsync(IpCommand ip, string family, List<string> failures, CancellationToken cancellationToken)
    {
        var pods = new Dictionary<string, IPAddress>();
        using (var routes = await ip.JsonAsync([family, "route", "show", "table", "all", "proto", IpCommand.Protocol], failures, cancellationToken).ConfigureAwait(false))
        {
            if (routes is null) return null;
            foreach (var route in routes.RootElement.EnumerateArray())
            {
                if (Field(route, "table") is { } table && table != "main" && Field(route, "gateway") is { } gateway && IPAddress.TryParse(gateway, out var pod)) pods.TryAdd(table, pod);
            }
        }
        using var rules = await ip.JsonAsync([family, "rule", "show"], failures, cancellationToken).ConfigureAwait(false);
        if (rules is null) return null;
        var ours = new List<KernelRule>();
        foreach (var rule in rules.RootElement.EnumerateArray().Where(r => Field(r, "protocol") == IpCommand.Protocol))
        {
            var table = Field(rule, "table") ?? "main";
            var priority = Field(rule, "priority") ?? Text(RulePriority);
            var mark = Field(rule, "fwmark");
            var mask = Field(rule, "fwmask");
            var slot = mark is not null && mark.StartsWith("0x", StringComparison.Ordinal)
                && uint.TryParse(mark[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value) ? marks.SlotOf(value) : 0;
            var fits = slot > 0 && slot <= marks.Slots && mask == $"0x{marks.Mask:x}" && table == Table(slot) && priority == Text(RulePriority);
            string[] selector = ["priority", priority, .. mark is null ? Array.Empty<string>() : ["fwmark", mask is null ? mark : $"{mark}/{mask}"], "table", table, "protocol", IpCommand.Protocol];
            ours.Add(new KernelRule(family, selector, table, fits ? slot : 0, fits ? pods.GetValueOrDefault(table) : null));
        }
        return ours;
    }

    private static string Table(int slot) => Text(FirstTable + (uint)slot);

    private static string? Field(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText() : null;

    private static string Text(uint value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
