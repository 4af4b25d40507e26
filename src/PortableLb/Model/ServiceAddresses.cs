using System.Net;
using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Tuning;
using k8s.Models;

namespace PortableLb.Model;

/// <summary>A Service's VIP, with the field it came from so errors and summaries can point at it.</summary>
public sealed record ServiceAddress(IPNetwork Network, string Field)
{
    public bool IsPrefix => !Network.IsSingleAddress();
    public IPAddress Address => Network.BaseAddress;
}

/// <summary>
/// Finds a Service's addresses. The first source that is set wins: our annotation, spec.loadBalancerIP,
/// spec.externalIPs; with none, the addresses a pool gave it, as its status records them (<see cref="AddressAllocator"/>).
/// </summary>
public static class ServiceAddresses
{
    public const string Annotation = "portable-lb.io/addresses";
    public const string PoolAnnotation = "portable-lb.io/pool";
    private const string AnnotationField = "metadata.annotations[\"" + Annotation + "\"]";
    public const string PoolField = "metadata.annotations[\"" + PoolAnnotation + "\"]";

    /// <summary>The most addresses one Service may list: each becomes virtual servers, routes and announcements.</summary>
    public const int MaxAddresses = 64;

    /// <summary>Whether the Service names no address of its own, so that a pool gives it one.</summary>
    public static bool NeedsAllocation(V1Service service) =>
        service.Metadata?.Annotations?.ContainsKey(Annotation) != true && service.Spec?.LoadBalancerIP is not { Length: > 0 } && service.Spec?.ExternalIPs is not { Count: > 0 };

    /// <summary>The pools a Service without addresses of its own may get one from: the one it names, else every autoAssign pool; null when it names a pool that does not exist.</summary>
    public static IReadOnlyList<AddressPool>? EligiblePools(V1Service service, IReadOnlyList<AddressPool> pools) =>
        service.Metadata?.Annotations.ValueOf(PoolAnnotation) is { } named
            ? pools.FirstOrDefault(p => p.Name == named) is { } pool ? [pool] : null
            : pools.Where(p => p.AutoAssign).ToList();

    /// <summary>
    /// The Service's addresses, each with the field it came from; problems go to <paramref name="error"/>. `pools` is
    /// the tuning's, or null where it is not known (node-routes): a recorded allocation is then taken as it stands.
    /// </summary>
    public static IReadOnlyList<ServiceAddress> Resolve(V1Service service, ProtectedAddresses reserved, IReadOnlyList<AddressPool>? pools, Action<string, string> error)
    {
        if (NeedsAllocation(service) && (pools is null || pools.Count > 0)) return Allocated(service, reserved, pools, error);
        var addresses = Explicit(service, reserved, error);
        if (pools is { Count: > 0 })
        {
            foreach (var address in addresses.Where(a => !pools.Any(p => p.Contains(a.Network))).ToList())
            {
                error(address.Field, $"{address.Network.Display()} lies outside every address pool ({string.Join(", ", pools.Select(p => p.Name))}); with pools configured, a Service's addresses must come from one");
                addresses.Remove(address);
            }
        }
        return addresses;
    }

    /// <summary>
    /// The addresses a pool gave the Service, read back from its status: each single address there that lies in a
    /// pool it may use. None yet means the leader has still to allocate (not an error: the Service waits).
    /// </summary>
    private static List<ServiceAddress> Allocated(V1Service service, ProtectedAddresses reserved, IReadOnlyList<AddressPool>? pools, Action<string, string> error)
    {
        var eligible = pools is null ? null : EligiblePools(service, pools);
        if (pools is not null && eligible is null)
        {
            error(PoolField, $"names pool \"{IpText.Printable(service.Metadata!.Annotations[PoolAnnotation])}\", which the tuning does not define ({string.Join(", ", pools.Select(p => p.Name))})");
            return [];
        }
        var result = new List<ServiceAddress>();
        var ingress = service.Status?.LoadBalancer?.Ingress ?? [];
        for (var i = 0; i < ingress.Count; i++)
        {
            if (!IpText.TryParseAddress(ingress[i].Ip, out var address)) continue;
            var network = new IPNetwork(address, address.GetAddressBytes().Length * 8);
            if (eligible is not null && !eligible.Any(p => p.Contains(network))) continue;
            if (reserved.Conflict(network) is not null || result.Any(r => r.Network.Equals(network))) continue;
            result.Add(new ServiceAddress(network, $"status.loadBalancer.ingress[{i}].ip"));
        }
        return result;
    }

    private static List<ServiceAddress> Explicit(V1Service service, ProtectedAddresses reserved, Action<string, string> error)
    {
        if (service.Metadata?.Annotations?.TryGetValue(Annotation, out var annotation) == true)
        {
            var entries = annotation.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (entries.Length == 0) error(AnnotationField, "is set but lists no address");
            if (entries.Length > MaxAddresses)
            {
                error(AnnotationField, $"lists {entries.Length} addresses; a Service may have at most {MaxAddresses}");
                return [];
            }
            return Parse(entries.Select(e => (e, AnnotationField)), allowPrefix: true, reserved, error);
        }
        if (service.Spec?.LoadBalancerIP is { Length: > 0 } loadBalancerIp)
        {
            return Parse([(loadBalancerIp, "spec.loadBalancerIP")], allowPrefix: false, reserved, error);
        }
        if (service.Spec?.ExternalIPs is { Count: > 0 } externalIps)
        {
            if (externalIps.Count > MaxAddresses)
            {
                error("spec.externalIPs", $"lists {externalIps.Count} addresses; a Service may have at most {MaxAddresses}");
                return [];
            }
            return Parse(externalIps.Select((ip, i) => (ip, $"spec.externalIPs[{i}]")), allowPrefix: false, reserved, error);
        }
        error(AnnotationField, "no address: set this annotation, spec.loadBalancerIP or spec.externalIPs, or configure an address pool in the tuning");
        return [];
    }

    private static List<ServiceAddress> Parse(IEnumerable<(string Text, string Field)> entries, bool allowPrefix, ProtectedAddresses reserved, Action<string, string> error)
    {
        var result = new List<ServiceAddress>();
        var seen = new HashSet<IPNetwork>();
        foreach (var (text, field) in entries)
        {
            if (!IpText.TryParseAddressOrPrefix(text, out var network, out var problem))
            {
                error(field, problem);
                continue;
            }
            if (!allowPrefix && !network.IsSingleAddress())
            {
                error(field, $"\"{text}\" is a prefix; only the {Annotation} annotation takes prefixes");
                continue;
            }
            if (reserved.Conflict(network) is { } conflict)
            {
                error(field, $"{network.Display()} overlaps {conflict}; a Service may not claim it");
                continue;
            }
            if (seen.Add(network)) result.Add(new ServiceAddress(network, field));
        }
        return result;
    }
}
