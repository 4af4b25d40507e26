using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Sources;
using PortableLb.Tuning;
using k8s.Models;

namespace PortableLb.Model;

/// <summary>One entry of status.loadBalancer.ingress as PortableLb writes it: an address and its ipMode.</summary>
public sealed record IngressEntry(string Ip, string IpMode);

/// <summary>A Service whose status.loadBalancer.ingress must change, and the resourceVersion the change was planned against.</summary>
public sealed record StatusChange(ServiceName Service, string? ResourceVersion, ValueList<IngressEntry> Ingress);

/// <summary>
/// What the leader should write, the Services a pool could not give an address (each an AllocationFailed Event), and
/// the resourceVersion of every Service of our class in the snapshot the plan was made from (so the writer can tell a
/// plan made before its own last writes arrived).
/// </summary>
public sealed record StatusPlan(IReadOnlyList<StatusChange> Changes, IReadOnlyList<ObjectError> AllocationFailures, IReadOnlyDictionary<ServiceName, string?> Versions)
{
    public static StatusPlan Empty { get; } = new([], [], new Dictionary<ServiceName, string?>());
}

/// <summary>
/// The pure half of the Service status: which Services show which addresses as EXTERNAL-IP. A Service of our
/// loadBalancerClass that the build accepted shows each single address it is served on (a Service a pool has just
/// given addresses shows those: the status is where the allocation is recorded); prefixes are announced
/// but have no ingress entry (an ingress entry is one address). Every other Service of our class (rejected, no
/// address, or no longer type LoadBalancer) shows none. Services of another class are never touched. Only changes
/// are returned, so an unchanged Service is never written.
/// </summary>
public static class ServiceStatusPlanner
{
    public static string ModeName(IngressMode mode) => mode == IngressMode.Proxy ? "Proxy" : "VIP";

    public static StatusPlan Plan(ClusterSnapshot snapshot, BuildResult build, TuningSettings tuning, NodeAddresses node, IReadOnlyCollection<ServiceName>? only)
    {
        var served = build.Services.ToDictionary(s => s.Name);
        var allocation = AddressAllocator.Allocate(snapshot, build, tuning, node, only);
        var mode = ModeName(tuning.IpMode);
        var changes = new List<StatusChange>();
        var ours = snapshot.Services.Where(s => s.Spec?.LoadBalancerClass == DesiredStateBuilder.LoadBalancerClass).ToList();
        foreach (var service in ours)
        {
            var name = NameOf(service);
            if (only is { Count: > 0 } && !only.Contains(name)) continue;
            var desired = !DesiredStateBuilder.IsServed(service) ? ValueList<IngressEntry>.Empty
                : served.TryGetValue(name, out var summary) && summary.Addresses.Count > 0
                    ? summary.Addresses.Where(a => IpText.TryParseAddress(a, out _)).Select(a => new IngressEntry(a, mode)).ToValueList()
                : allocation.Allocations.TryGetValue(name, out var allocated) ? allocated.Select(a => new IngressEntry(a.ToString(), mode)).ToValueList()
                : ValueList<IngressEntry>.Empty;
            if (!Shows(service, desired)) changes.Add(new StatusChange(name, service.Metadata?.ResourceVersion, desired));
        }
        var versions = new Dictionary<ServiceName, string?>();
        foreach (var service in ours) versions[NameOf(service)] = service.Metadata?.ResourceVersion;
        return new StatusPlan(InSafeOrder(changes, ours), allocation.Failures, versions);
    }

    /// <summary>
    /// The changes in an order in which no address is ever shown by two Services that may not share it, even for a
    /// moment between two writes: a Service that gives an address up is written before one that takes it. A change
    /// whose address is still shown elsewhere with no change to free it waits for a later pass. The writer stops at
    /// its first failure, so nothing after a failed release is written either.
    /// </summary>
    private static List<StatusChange> InSafeOrder(List<StatusChange> changes, List<V1Service> ours)
    {
        var keys = new Dictionary<ServiceName, string?>();
        var shown = new Dictionary<string, HashSet<ServiceName>>(StringComparer.Ordinal);
        foreach (var service in ours)
        {
            var name = NameOf(service);
            keys[name] = service.Metadata?.Annotations.ValueOf(AddressAllocator.ShareAnnotation);
            foreach (var entry in Current(service)) Holders(shown, entry.Ip).Add(name);
        }
        bool MayShare(ServiceName a, ServiceName b) => keys.GetValueOrDefault(a) is { Length: > 0 } key && key == keys.GetValueOrDefault(b);

        var ordered = new List<StatusChange>();
        var pending = new List<StatusChange>(changes);
        for (var progress = true; progress && pending.Count > 0;)
        {
            progress = false;
            foreach (var change in pending.ToList())
            {
                if (change.Ingress.Any(e => Holders(shown, e.Ip).Any(h => h != change.Service && !MayShare(h, change.Service)))) continue;
                foreach (var holders in shown.Values) holders.Remove(change.Service);
                foreach (var entry in change.Ingress) Holders(shown, entry.Ip).Add(change.Service);
                ordered.Add(change);
                pending.Remove(change);
                progress = true;
            }
        }
        return ordered;
    }

    private static ServiceName NameOf(V1Service service)
    {
        var key = ObjectKey.Of(service);
        return new ServiceName(key.Namespace, key.Name);
    }

    private static HashSet<ServiceName> Holders(Dictionary<string, HashSet<ServiceName>> shown, string ip)
    {
        if (!shown.TryGetValue(ip, out var holders)) shown[ip] = holders = [];
        return holders;
    }

    /// <summary>
    /// Whether the status already shows these entries. An entry without ipMode matches either mode: an API server
    /// older than 1.30 (or with the LoadBalancerIPMode gate off) drops the field, and comparing it would rewrite the
    /// status on every pass, each write waking the next.
    /// </summary>
    private static bool Shows(V1Service service, ValueList<IngressEntry> desired)
    {
        var current = Current(service).ToList();
        return current.Count == desired.Count && current.Zip(desired).All(p => p.First.Ip == p.Second.Ip && (p.First.IpMode.Length == 0 || p.First.IpMode == p.Second.IpMode));
    }

    /// <summary>What the Service shows now; an entry with a hostname and no address is compared as such, so it is replaced.</summary>
    public static IEnumerable<IngressEntry> Current(V1Service service) =>
        (service.Status?.LoadBalancer?.Ingress ?? []).Select(i => new IngressEntry(i.Ip ?? $"hostname:{i.Hostname}", i.IpMode ?? ""));
}
