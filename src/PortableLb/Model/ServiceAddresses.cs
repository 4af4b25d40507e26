using System.Net;
using PortableLb.Common;
using k8s.Models;

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

    /// <summary>The most addresses one Service may list: each becomes virtual servers, routes and announcements.</summary>
    public const int MaxAddresses = 64;

    public static IReadOnlyList<ServiceAddress> Resolve(V1Service service, ProtectedAddresses reserved, Action<string, string> error)
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
        error(AnnotationField, "no address: set this annotation, spec.loadBalancerIP or spec.externalIPs");
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
