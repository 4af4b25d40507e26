using System.Net;
using System.Net.Sockets;
using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Sources;
using PortableLb.Tuning;
using k8s.Models;

namespace PortableLb.Model;

/// <summary>
/// The leader's half of the address pools: which Services without an address of their own get which addresses.
/// Pure: from the snapshot and the build, the same inputs give the same answer on every pod. An allocation is
/// recorded in the Service's status (the leader writes it), and <see cref="ServiceAddresses"/> reads it back on
/// every pod, so an address never moves while its Service lives, across restarts and leader changes. Addresses
/// already served (explicit or recorded) are taken first; new ones go to the oldest Services first, each the lowest
/// free address of the first eligible pool that has one.
/// </summary>
public static class AddressAllocator
{
    public const string ShareAnnotation = "portable-lb.io/allow-shared-ip";

    /// <summary>How far past the addresses in use a search for a free one goes: a pool whose addresses are all protected (the node's, say) counts as full rather than scanned whole.</summary>
    private const int SearchSlack = 4096;

    public sealed record Result(IReadOnlyDictionary<ServiceName, ValueList<IPAddress>> Allocations, IReadOnlyList<ObjectError> Failures)
    {
        public static Result None { get; } = new(new Dictionary<ServiceName, ValueList<IPAddress>>(), []);
    }

    private sealed record Holder(ServiceName Service, string? ShareKey, IReadOnlySet<(string Protocol, int Port)> Ports);

    public static Result Allocate(ClusterSnapshot snapshot, BuildResult build, TuningSettings tuning, NodeAddresses node, IReadOnlyCollection<ServiceName>? only)
    {
        if (tuning.Pools.Count == 0) return Result.None;
        var byName = new Dictionary<ServiceName, V1Service>();
        foreach (var service in snapshot.Services) byName[Name(service)] = service;
        var served = build.Services.ToDictionary(b => b.Name);
        var rejected = build.Errors.Where(e => e.Object.Kind == "Service").Select(e => new ServiceName(e.Object.Namespace, e.Object.Name)).ToHashSet();

        // Every address in use, with who holds it; prefixes apart (no single address inside one is free).
        var singles = new Dictionary<IPAddress, List<Holder>>();
        var prefixes = new List<IPNetwork>();
        foreach (var summary in build.Services)
        {
            if (!byName.TryGetValue(summary.Name, out var service)) continue;
            foreach (var text in summary.Addresses)
            {
                if (IpText.TryParseAddress(text, out var address)) Hold(singles, address, HolderOf(service));
                else if (IpText.TryParseAddressOrPrefix(text, out var prefix, out _)) prefixes.Add(prefix);
            }
        }

        var reserved = new ProtectedAddresses(node, tuning.Bgp);
        var allocations = new Dictionary<ServiceName, ValueList<IPAddress>>();
        var failures = new List<ObjectError>();
        var waiting = snapshot.Services
            .Where(s => DesiredStateBuilder.IsServed(s) && ServiceAddresses.NeedsAllocation(s))
            .Where(s => only is not { Count: > 0 } || only.Contains(Name(s)))
            .Where(s => !rejected.Contains(Name(s)) && served.GetValueOrDefault(Name(s)) is not { Addresses.Count: > 0 })
            .OrderBy(s => s.Metadata?.CreationTimestamp ?? DateTime.MaxValue).ThenBy(s => s.Metadata?.Uid, StringComparer.Ordinal).ThenBy(s => ObjectKey.Of(s));
        foreach (var service in waiting)
        {
            var eligible = ServiceAddresses.EligiblePools(service, tuning.Pools) ?? [];
            var holder = HolderOf(service);
            var (families, required) = Families(service);
            var got = new List<IPAddress>();
            var missing = new List<AddressFamily>();
            foreach (var family in families)
            {
                if ((Shared(singles, eligible, family, holder) ?? Free(singles, prefixes, reserved, eligible, family)) is { } address) got.Add(address);
                else missing.Add(family);
            }
            var field = service.Metadata?.Annotations.ValueOf(ServiceAddresses.PoolAnnotation) is null ? "spec.ipFamilies" : ServiceAddresses.PoolField;
            if (missing.Count > 0 && (required || got.Count == 0))
            {
                var pools = eligible.Count == 0 ? "no pool assigns addresses automatically; name one in " + ServiceAddresses.PoolAnnotation : $"pool {string.Join(", ", eligible.Select(p => p.Name))}";
                failures.Add(new ObjectError(ObjectKey.Of(service), field,
                    $"no free {string.Join(" or ", missing.Select(IpText.FamilyName))} address: {pools}"));
                continue;
            }
            foreach (var address in got) Hold(singles, address, holder);
            allocations[holder.Service] = got.ToValueList();
        }
        return new Result(allocations, failures);
    }

    /// <summary>The families the Service asks for: both under a dual-stack policy (required for RequireDualStack), else its first, IPv4 by default.</summary>
    private static (IReadOnlyList<AddressFamily> Families, bool AllRequired) Families(V1Service service)
    {
        var listed = (service.Spec?.IpFamilies ?? []).Select(f => f == "IPv6" ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork).Distinct().ToList();
        if (listed.Count == 0) listed.Add(AddressFamily.InterNetwork);
        return service.Spec?.IpFamilyPolicy switch
        {
            "RequireDualStack" => (listed, true),
            "PreferDualStack" => (listed, false),
            _ => ([listed[0]], true),
        };
    }

    /// <summary>An address in use whose every holder carries the same share key and uses none of these ports.</summary>
    private static IPAddress? Shared(Dictionary<IPAddress, List<Holder>> singles, IReadOnlyList<AddressPool> eligible, AddressFamily family, Holder holder)
    {
        if (holder.ShareKey is not { Length: > 0 } key) return null;
        return singles
            .Where(s => s.Key.AddressFamily == family && eligible.Any(p => p.Ranges.Any(r => r.Contains(s.Key))))
            .Where(s => s.Value.All(h => h.ShareKey == key && !h.Ports.Overlaps(holder.Ports)))
            .Select(s => s.Key)
            .OrderBy(AddressRange.Number)
            .FirstOrDefault();
    }

    private static IPAddress? Free(Dictionary<IPAddress, List<Holder>> singles, List<IPNetwork> prefixes, ProtectedAddresses reserved, IReadOnlyList<AddressPool> eligible, AddressFamily family)
    {
        foreach (var range in eligible.SelectMany(p => p.Ranges).Where(r => r.Family == family))
        {
            var budget = singles.Count + prefixes.Count + SearchSlack;
            foreach (var candidate in range.From())
            {
                if (budget-- == 0) break;
                if (singles.ContainsKey(candidate) || prefixes.Any(p => p.Contains(candidate))) continue;
                if (reserved.Conflict(new IPNetwork(candidate, candidate.GetAddressBytes().Length * 8)) is not null) continue;
                return candidate;
            }
        }
        return null;
    }

    private static void Hold(Dictionary<IPAddress, List<Holder>> singles, IPAddress address, Holder holder)
    {
        if (!singles.TryGetValue(address, out var holders)) singles[address] = holders = [];
        holders.Add(holder);
    }

    private static Holder HolderOf(V1Service service) => new(
        Name(service),
        service.Metadata?.Annotations.ValueOf(ShareAnnotation),
        (service.Spec?.Ports ?? []).Select(p => (p.Protocol ?? "TCP", p.Port)).ToHashSet());

    private static ServiceName Name(V1Service service)
    {
        var key = ObjectKey.Of(service);
        return new ServiceName(key.Namespace, key.Name);
    }
}
