using System.Net;
using System.Net.Sockets;
using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Sources;
using PortableLb.Tuning;

namespace PortableLb.Model;

/// <summary>A single address an L2-mode Service holds, with the field it came from for errors.</summary>
public sealed record L2Address(IPAddress Vip, ServiceName Service, ObjectKey Key, string Field);

/// <summary>
/// L2 mode's VRRP instances for this LB pod, from the VIPs and the LB pods (pure). Every pod derives the same masters
/// and router ids from the same snapshot; only the priorities and the unicast peers are this pod's own.
/// <list type="bullet">
/// <item>Members are the LB pods that are Ready and not terminating, plus this pod itself (its readiness does not
/// wait for VRRP). A pod that is going away thus hands its VIPs over before it stops.</item>
/// <item>Priorities count down from <see cref="MasterPriority"/> along each VIP's order (<see cref="Priority"/>), so
/// the master is the pod <see cref="MasterAssignment"/> names and the first backup the next in its order.</item>
/// </list>
/// </summary>
public static class VrrpPlanner
{
    /// <summary>The master's priority; 255 is reserved for an address's owner (RFC 5798).</summary>
    public const int MasterPriority = 250;

    /// <summary>
    /// The priority of the pod at <paramref name="rank"/> in a VIP's order. The first backups are 50 apart: a backup
    /// declares the master down after 3 adverts plus a skew of (256 − priority)/256 of one, so 50 gives the first
    /// backup a fifth of an advert to claim the VIP before the second one also tries (one apart, both claimed it and
    /// the client's ARP entry went to the wrong one first). Past the fourth, one apart, down to 1.
    /// </summary>
    public static int Priority(int rank) => rank < 4 ? MasterPriority - 50 * rank : Math.Max(1, 99 - (rank - 4));

    public static VrrpConfig? Plan(
        IReadOnlyList<L2Address> addresses, ClusterSnapshot snapshot, L2Settings settings, NodeAddresses node,
        List<ObjectError> errors, List<TuningError> configErrors, List<string> warnings)
    {
        var interfaceName = settings.Interface ?? node.Interface;
        if (interfaceName is null)
        {
            configErrors.Add(new TuningError("tuning", "l2.interface", "is empty, and the interface holding this pod's address is unknown (no --pod-ip, or no interface has it); name the interface"));
            return null;
        }

        var ids = RouterIds(addresses, settings, errors);
        var instances = new List<VrrpInstance>();
        foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            var vips = addresses.Where(a => a.Vip.AddressFamily == family && ids.ContainsKey(a.Vip)).GroupBy(a => a.Vip)
                .ToDictionary(g => g.Key, g => g.Select(a => a.Service).Distinct().Order().ToValueList());
            if (vips.Count == 0) continue;
            var self = node.Pod(family);
            var members = Members(snapshot, family, self);
            var me = self is null ? null : members.FirstOrDefault(m => m.Address.Equals(self));
            if (me is null)
            {
                warnings.Add($"L2 mode: this pod ({self?.ToString() ?? $"no {IpText.FamilyName(family)} --pod-ip"}) is not among the LB pods listed (label {KubernetesSource.LbPodLabelKey}={KubernetesSource.LbPodLabelValue}), so it holds none of the {IpText.FamilyName(family)} VIPs");
                continue;
            }
            foreach (var order in MasterAssignment.Assign(vips.Keys.ToList(), members))
            {
                var rank = order.Order.TakeWhile(m => m != me).Count();
                instances.Add(new VrrpInstance(order.Vip, ids[order.Vip], Priority(rank), me.Address,
                    order.Order.Where(m => m != me).Select(m => m.Address).Order(AddressOrder.Instance).ToValueList(), order.Master.Pod, vips[order.Vip]));
            }
        }
        return new VrrpConfig(interfaceName, settings.AdvertIntervalCentiseconds, settings.PreemptDelay, instances.ToValueList());
    }

    /// <summary>The LB pods that take part, in <paramref name="family"/>: ready and staying, or this pod.</summary>
    public static IReadOnlyList<L2Member> Members(ClusterSnapshot snapshot, AddressFamily family, IPAddress? self)
    {
        var members = new List<L2Member>();
        foreach (var pod in snapshot.Pods.Where(p => p.Metadata?.Labels.ValueOf(KubernetesSource.LbPodLabelKey) == KubernetesSource.LbPodLabelValue))
        {
            var address = pod.Addresses().Select(a => IpText.TryParseAddress(a, out var parsed) ? parsed : null).FirstOrDefault(a => a?.AddressFamily == family);
            if (address is null || pod.Metadata?.Name is not { } name || pod.Spec?.NodeName is not { Length: > 0 } nodeName) continue;
            if (address.Equals(self) || (pod.IsReady() && !pod.IsTerminating())) members.Add(new L2Member(name, nodeName, address));
        }
        // Two pods with one address (a replaced hostNetwork pod not yet gone): the one that is this pod, else by name.
        return members.OrderBy(m => m.Address.Equals(self) ? 0 : 1).ThenBy(m => m.Pod, StringComparer.Ordinal).DistinctBy(m => m.Address).ToList();
    }

    /// <summary>
    /// A router id per VIP, the same on every pod: each VIP starts from its hash in [first, last] and takes the next
    /// free id, VIPs in address order. Adding a VIP moves no other's id unless they collide. IPv4 and IPv6 share the
    /// range (simpler to keep clear of other VRRP users). VIPs past the range's size are refused, named.
    /// </summary>
    public static Dictionary<IPAddress, int> RouterIds(IReadOnlyList<L2Address> addresses, L2Settings settings, List<ObjectError> errors)
    {
        var size = settings.LastRouterId - settings.FirstRouterId + 1;
        var ids = new Dictionary<IPAddress, int>();
        var taken = new HashSet<int>();
        foreach (var vip in addresses.Select(a => a.Vip).Distinct().Order(AddressOrder.Instance))
        {
            if (taken.Count == size)
            {
                foreach (var a in addresses.Where(a => a.Vip.Equals(vip)))
                {
                    errors.Add(new ObjectError(a.Key, a.Field, $"{vip} gets no VRRP router id: all {size} ids from l2.firstRouterId {settings.FirstRouterId} to l2.lastRouterId {settings.LastRouterId} are taken by other VIPs"));
                }
                continue;
            }
            var id = (int)(MasterAssignment.Hash(vip, "vrid", "") % (ulong)size);
            while (!taken.Add(id)) id = (id + 1) % size;
            ids[vip] = settings.FirstRouterId + id;
        }
        return ids;
    }
}
