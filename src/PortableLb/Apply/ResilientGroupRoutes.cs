using System.Globalization;
using System.Net;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.Apply;

/// <summary>
/// The node's routes through resilient nexthop groups (Linux 5.13): each destination's route names one group of the
/// LB pods' nexthop objects, and a change of the pods replaces the group's members, never the route. The kernel then
/// moves only hash buckets that carried no packet for <see cref="IdleSeconds"/> to a joining pod, so a connection in
/// flight stays on the LB pod that holds its IPVS state; after <see cref="UnbalancedSeconds"/> out of balance it
/// moves the rest. A draining pod (<see cref="NodeRoute.Draining"/>, only where connections are not pinned) gets the least weight, so its idle buckets move
/// to the others and the busy ones stay until idle; a pod that leaves takes its remaining buckets with it at once.
/// Each pod is in the group twice, through two nexthop objects of its own (<see cref="ObjectsPerPod"/>): the kernel
/// hashes, and so marks a bucket busy, only when a group has more than one member, so a lone pod's buckets would all
/// look idle and half of them, flows in flight included, would move to the pod that joins it (a rolling update's).
/// </summary>
internal sealed class ResilientGroupRoutes(IpCommand ip) : INodeRouteWriter
{
    /// <summary>
    /// Fine enough that a draining pod holds few buckets besides its live flows' (a new connection hashed into one of
    /// those is moved when the pod leaves), coarse enough to cost 32 KB of kernel memory per VIP on the node.
    /// </summary>
    public const int Buckets = 1024;

    /// <summary>Longer than a new connection's handshake and first request, so those never move mid-flight.</summary>
    public const int IdleSeconds = 5;

    /// <summary>A busy node reaches balance after this long even if no bucket ever goes idle.</summary>
    public const int UnbalancedSeconds = 60;

    /// <summary>A serving pod's weight against a draining pod's 1 (the most a group takes): the draining pod's fair share is about 8 buckets.</summary>
    public const int ServingWeight = 255;

    /// <summary>Members per LB pod, all with the pod's weight; two, so that even a lone pod's group has a choice to make.</summary>
    public const int ObjectsPerPod = 2;

    // Our ids start here ("201", our route protocol, in the top bits), well above what zebra or others allocate from 1.
    private const uint FirstId = 201u << 20;

    private readonly Dictionary<IPAddress, List<uint>> _podObjects = [];
    private readonly Dictionary<IPNetwork, (uint Id, ValueList<uint> Members)> _groups = [];
    private readonly HashSet<IPNetwork> _routed = [];
    private readonly HashSet<uint> _stray = [];
    private readonly HashSet<uint> _taken = [];

    public string Kind => "resilient nexthop groups";

    /// <summary>Whether this node's `ip` and kernel know nexthop objects at all (the kernel version says the rest).</summary>
    public static async Task<bool> SupportedAsync(IpCommand ip, CancellationToken cancellationToken) =>
        (await ip.RunAsync(["-j", "nexthop", "show"], cancellationToken).ConfigureAwait(false)).ExitCode == 0;

    public async Task<Dictionary<IPNetwork, NodeRoute?>> AdoptAsync(List<string> failures, CancellationToken cancellationToken)
    {
        _podObjects.Clear();
        _groups.Clear();
        _routed.Clear();
        _stray.Clear();
        _taken.Clear();
        var ourGroups = new HashSet<uint>();
        using (var nexthops = await ip.JsonAsync(["nexthop", "show"], failures, cancellationToken).ConfigureAwait(false))
        {
            foreach (var nexthop in nexthops is null ? [] : nexthops.RootElement.EnumerateArray().ToList())
            {
                var id = nexthop.GetProperty("id").GetUInt32();
                _taken.Add(id);
                if (!nexthop.TryGetProperty("protocol", out var protocol) || protocol.GetString() != IpCommand.Protocol) continue;
                if (nexthop.TryGetProperty("group", out _)) ourGroups.Add(id);
                else if (nexthop.TryGetProperty("gateway", out var gateway) && IPAddress.TryParse(gateway.GetString(), out var address)) Objects(address).Add(id);
                else _stray.Add(id);
            }
        }
        var adopted = new Dictionary<IPNetwork, NodeRoute?>();
        foreach (var (destination, nexthopId) in await MultipathRoutes.OurRoutesAsync(ip, failures, cancellationToken).ConfigureAwait(false))
        {
            adopted[destination] = null;
            if (nexthopId is { } group && ourGroups.Remove(group))
            {
                _groups[destination] = (group, ValueList<uint>.Empty);
                _routed.Add(destination);
            }
        }
        _stray.UnionWith(ourGroups); // groups no route of ours uses
        return adopted;
    }

    public async Task<bool> SetAsync(NodeRoute route, List<string> failures, CancellationToken cancellationToken)
    {
        var members = new List<(uint Id, int Weight)>();
        foreach (var (address, weight) in route.Via.Select(a => (a, ServingWeight)).Concat(route.Draining.Select(a => (a, 1))))
        {
            if (await PodObjectsAsync(address, failures, cancellationToken).ConfigureAwait(false) is not { } ids) return false;
            members.AddRange(ids.Select(id => (id, weight)));
        }
        var group = _groups.TryGetValue(route.Destination, out var known) ? known.Id : Allocate();
        // Replacing the members of a resilient group keeps the buckets of the members that stay.
        if (!await ip.MustAsync(["nexthop", "replace", "id", Text(group), "group", string.Join('/', members.Select(m => $"{Text(m.Id)},{Text(m.Weight)}")),
                "type", "resilient", "buckets", Text(Buckets), "idle_timer", Text(IdleSeconds), "unbalanced_timer", Text(UnbalancedSeconds),
                "proto", IpCommand.Protocol], failures, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        _groups[route.Destination] = (group, members.Select(m => m.Id).ToValueList());
        if (_routed.Contains(route.Destination)) return true;
        // The first time only: from now on the route stays as it is and only its group changes.
        if (!await ip.MustAsync([IpCommand.Family(route.Destination.BaseAddress), "route", "replace", route.Destination.ToString(), "table", "main",
                "proto", IpCommand.Protocol, "nhid", Text(group)], failures, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        _routed.Add(route.Destination);
        return true;
    }

    public async Task<bool> RemoveAsync(IPNetwork destination, List<string> failures, CancellationToken cancellationToken)
    {
        if (!await ip.MustAsync([IpCommand.Family(destination.BaseAddress), "route", "del", destination.ToString(), "table", "main", "proto", IpCommand.Protocol],
                failures, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        _routed.Remove(destination);
        if (_groups.Remove(destination, out var group)) _stray.Add(group.Id);
        return true;
    }

    public async Task CollectGarbageAsync(List<string> failures, CancellationToken cancellationToken)
    {
        var used = _groups.Values.SelectMany(g => g.Members).ToHashSet();
        // Adopted groups' members are unknown until their first SetAsync: keep every gateway while any is unknown.
        var membersKnown = _groups.Values.All(g => g.Members.Count > 0);
        foreach (var (address, ids) in membersKnown ? _podObjects.ToList() : [])
        {
            foreach (var id in ids.Where(id => !used.Contains(id)).ToList())
            {
                if (await DeleteAsync(id, failures, cancellationToken).ConfigureAwait(false)) ids.Remove(id);
            }
            if (ids.Count == 0) _podObjects.Remove(address);
        }
        foreach (var id in _stray.ToList())
        {
            if (await DeleteAsync(id, failures, cancellationToken).ConfigureAwait(false)) _stray.Remove(id);
        }
    }

    /// <summary>An LB pod's nexthop objects, created on the device the node reaches it through when missing.</summary>
    private async Task<IReadOnlyList<uint>?> PodObjectsAsync(IPAddress address, List<string> failures, CancellationToken cancellationToken)
    {
        var ids = Objects(address);
        if (ids.Count >= ObjectsPerPod) return ids[..ObjectsPerPod];
        if (await ip.DeviceTowardsAsync(address, failures, cancellationToken).ConfigureAwait(false) is not { } device) return null;
        while (ids.Count < ObjectsPerPod)
        {
            var id = Allocate();
            if (!await ip.MustAsync(["nexthop", "replace", "id", Text(id), "via", address.ToString(), "dev", device, "proto", IpCommand.Protocol], failures, cancellationToken).ConfigureAwait(false))
            {
                _taken.Remove(id);
                return null;
            }
            ids.Add(id);
        }
        return ids;
    }

    private List<uint> Objects(IPAddress address)
    {
        if (!_podObjects.TryGetValue(address, out var ids)) _podObjects[address] = ids = [];
        return ids;
    }

    private async Task<bool> DeleteAsync(uint id, List<string> failures, CancellationToken cancellationToken)
    {
        var result = await ip.RunAsync(["nexthop", "del", "id", Text(id)], cancellationToken).ConfigureAwait(false);
        // Gone already counts: the kernel drops a device's nexthops with the device (a deleted pod's veth).
        if (result.ExitCode != 0 && !result.StandardError.Contains("No such", StringComparison.OrdinalIgnoreCase))
        {
            failures.Add($"ip nexthop del id {id}: {result.StandardError.Trim()}");
            return false;
        }
        _taken.Remove(id);
        return true;
    }

    private uint Allocate()
    {
        var id = FirstId;
        while (!_taken.Add(id)) id++;
        return id;
    }

    private static string Text(uint value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
