using System.Net;
using System.Text;
using PortableLb.Common;

namespace PortableLb.Model;

/// <summary>An LB pod that takes part in L2 mode: the pod's name, its node, and its address (the node's, as it runs in the host network).</summary>
public sealed record L2Member(string Pod, string Node, IPAddress Address);

/// <summary>One VIP's VRRP order: Order[0] is its master, the rest its backups in turn.</summary>
public sealed record VipOrder(IPAddress Vip, ValueList<L2Member> Order)
{
    public L2Member Master => Order[0];
}

/// <summary>
/// Which LB pod is master for each L2 VIP, computed alike by every pod from the same two lists, so that no pod has to
/// ask another (seed 004: a lock race per VIP piles masters onto whichever pod started first).
/// <list type="bullet">
/// <item>Each VIP ranks the nodes by rendezvous hashing (highest hash of VIP and node first), and each node's pods the
/// same way. Hashing the node rather than the pod keeps a DaemonSet's VIPs where they were when its pod is replaced,
/// and taking each node's first pod before any node's second puts a VIP's first backup on another node.</item>
/// <item>The balance correction: every pod is master for ⌊V/N⌋ VIPs, and V mod N of them for one more. VIPs go to
/// their best-ranked pod first, in rounds by rank, and a pod that is full passes a VIP on to the VIP's next choice.
/// A pod that joins takes only VIPs that rank it first, or that a full pod passed on, so few VIPs move.</item>
/// </list>
/// </summary>
public static class MasterAssignment
{
    public static IReadOnlyList<VipOrder> Assign(IReadOnlyList<IPAddress> vips, IReadOnlyList<L2Member> members)
    {
        var pods = members.DistinctBy(m => m.Pod).OrderBy(m => m.Pod, StringComparer.Ordinal).ToList();
        var distinctVips = vips.Distinct().Order(AddressOrder.Instance).ToList();
        if (pods.Count == 0 || distinctVips.Count == 0) return [];

        var preferences = distinctVips.ToDictionary(v => v, v => Preference(v, pods));

        var masters = Rounds(distinctVips, pods, preferences);

        return distinctVips.Select(v => new VipOrder(v, Backups(masters[v], preferences[v]))).ToList();
    }

    /// <summary>
    /// The balance correction, in rounds by rank: in round k every VIP still without a master asks its k-th choice,
    /// strongest claims first (so which VIP a full pod keeps does not depend on address order). Of the orders tried
    /// (this; shedding from plain rendezvous; deferred acceptance; one VIP at a time in hash order), this moved the
    /// fewest VIPs when a pod joined or left.
    /// </summary>
    private static Dictionary<IPAddress, L2Member> Rounds(List<IPAddress> distinctVips, List<L2Member> pods, Dictionary<IPAddress, List<(L2Member Member, ulong Score)>> preferences)
    {
        var masters = new Dictionary<IPAddress, L2Member>();
        var load = pods.ToDictionary(p => p.Pod, _ => 0);
        var floor = distinctVips.Count / pods.Count;
        var extras = distinctVips.Count % pods.Count;
        for (var rank = 0; rank < pods.Count && masters.Count < distinctVips.Count; rank++)
        {
            var claims = distinctVips.Where(v => !masters.ContainsKey(v))
                .Select(v => (Vip: v, Pod: preferences[v][rank].Member, preferences[v][rank].Score))
                .OrderByDescending(c => c.Score).ThenBy(c => c.Vip, AddressOrder.Instance);
            foreach (var (vip, pod, _) in claims)
            {
                var taken = load[pod.Pod];
                if (taken < floor || (taken == floor && extras > 0))
                {
                    if (taken == floor) extras--;
                    load[pod.Pod] = taken + 1;
                    masters[vip] = pod;
                }
            }
        }
        return masters;
    }

    /// <summary>The master, then the pods on other nodes in the VIP's order, then the master's neighbours on its node.</summary>
    private static ValueList<L2Member> Backups(L2Member master, IReadOnlyList<(L2Member Member, ulong Score)> preference)
    {
        var rest = preference.Select(p => p.Member).Where(m => m != master).ToList();
        return new[] { master }.Concat(rest.Where(m => m.Node != master.Node)).Concat(rest.Where(m => m.Node == master.Node)).ToValueList();
    }

    /// <summary>
    /// The pods in this VIP's order: nodes by rendezvous score, and each node's pods by their own; then each node's
    /// first pod, each node's second, and so on. A pod's score here is its node's, so rounds compare like with like.
    /// </summary>
    private static List<(L2Member Member, ulong Score)> Preference(IPAddress vip, IReadOnlyList<L2Member> pods)
    {
        var nodes = pods.GroupBy(p => p.Node)
            .Select(g => (Score: Hash(vip, "node", g.Key), Pods: g.OrderByDescending(p => Hash(vip, "pod", p.Pod)).ThenBy(p => p.Pod, StringComparer.Ordinal).ToList()))
            .OrderByDescending(n => n.Score).ThenBy(n => n.Pods[0].Node, StringComparer.Ordinal)
            .ToList();
        var order = new List<(L2Member, ulong)>();
        for (var depth = 0; order.Count < pods.Count; depth++)
        {
            foreach (var (score, nodePods) in nodes)
            {
                if (depth < nodePods.Count) order.Add((nodePods[depth], score));
            }
        }
        return order;
    }

    /// <summary>FNV-1a over the text, then SplitMix64's finaliser: stable across processes and runtimes, unlike string.GetHashCode.</summary>
    internal static ulong Hash(IPAddress vip, string kind, string name)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes($"{vip}|{kind}|{name}"))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        hash = (hash ^ (hash >> 30)) * 0xBF58476D1CE4E5B9UL;
        hash = (hash ^ (hash >> 27)) * 0x94D049BB133111EBUL;
        return hash ^ (hash >> 31);
    }
}
