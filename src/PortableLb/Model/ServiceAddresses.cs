using System.Net;
using PortableLb.Common;
using PortableLb.Kubernetes.Models;

namespace PortableLb.Model;

/// <summary>A Service's VIP, with the field it came from so errors and summaries can point at it.</summary>
public sealed record ServiceAddress(IPNetwork Network, string Field)
{
    public bool IsPrefix => !Network.IsSingleAddress();
    public IPAddress Address => Network.BaseAddress;
}

/// <summary>Finds a Service's addresses. The first source that is set wins: our annotation, spec.loadBalancerIP, spec.externalIPs.</summary>
public static class ServiceAddresses
{
    public const string Annotation = "portable-lb.io/addresses";
    private const string AnnotationField = "metadata.annotations[\"" + Annotation + "\"]";

    public static IReadOnlyList<ServiceAddress> Resolve(Service service, Action<string, string> error)
    {
        if (service.Metadata?.Annotations?.TryGetValue(Annotation, out var annotation) == true)
        {
            var entries = annotation.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (entries.Length == 0) error(AnnotationField, "is set but lists no address");
            return Parse(entries.Select(e => (e, AnnotationField)), allowPrefix: true, error);
        }
        if (service.Spec?.LoadBalancerIP is { Length: > 0 } loadBalancerIp)
        {
            return Parse([(loadBalancerIp, "spec.loadBalancerIP")], allowPrefix: false, error);
        }
        if (service.Spec?.ExternalIPs is { Count: > 0 } externalIps)
        {
            return Parse(externalIps.Select((ip, i) => (ip, $"spec.externalIPs[{i}]")), allowPrefix: false, error);
        }
        error(AnnotationField, "no address: set this annotation, spec.loadBalancerIP or spec.externalIPs");
        return [];
    }

    private static List<ServiceAddress> Parse(IEnumerable<(string Text, string Field)> entries, bool allowPrefix, Action<string, string> error)
    {
        var result = new List<ServiceAddress>();
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
            var address = network.BaseAddress;
            if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || IsMulticast(address))
            {
                error(field, $"{network.Display()} cannot be a load-balancer address (unspecified or multicast)");
                continue;
            }
            if (result.All(r => !r.Network.Equals(network))) result.Add(new ServiceAddress(network, field));
        }
        return result;
    }

    private static bool IsMulticast(IPAddress address) =>
        address.IsIPv6Multicast || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.GetAddressBytes()[0] is >= 224 and <= 239);
}
