using System.Net;
using PortableLb.Common;
using PortableLb.Kubernetes;
using k8s.Models;

namespace PortableLb.Model;

/// <summary>
/// Sources allowed to reach one Service port on one of its addresses (spec.loadBalancerSourceRanges), all of the
/// address's family; a packet from anywhere else is dropped before IPVS sees it. An empty list drops every source:
/// the Service has ranges, none of them in this address's family.
/// </summary>
public sealed record SourceFilter(IPNetwork Destination, Protocol Protocol, int Port, ValueList<IPNetwork> Allowed);

/// <summary>
/// A Service's source ranges as kube-proxy reads them: spec.loadBalancerSourceRanges, else the older annotation
/// (comma-separated). Like the API server, a range's host bits are masked, not refused.
/// </summary>
public static class SourceRanges
{
    public const string Annotation = "service.beta.kubernetes.io/load-balancer-source-ranges";
    private const string AnnotationField = "metadata.annotations[\"" + Annotation + "\"]";

    /// <summary>Each range is a set element in every filtered port's rule; more than this is not a firewall, it is a mistake.</summary>
    public const int MaxRanges = 1_024;

    /// <summary>The Service's ranges, the ones nested in another left out; null when it sets none (every source may reach it).</summary>
    public static ValueList<IPNetwork>? Of(V1Service service, Action<string, string> problem)
    {
        var (texts, field) = service.Spec?.LoadBalancerSourceRanges is { Count: > 0 } listed
            ? (listed.ToList(), "spec.loadBalancerSourceRanges")
            : service.Metadata?.Annotations.ValueOf(Annotation) is { } annotation && annotation.Trim().Length > 0
                ? (annotation.Split(',').ToList(), AnnotationField)
                : ([], "");
        if (texts.Count == 0) return null;
        if (texts.Count > MaxRanges)
        {
            problem(field, $"lists {texts.Count} source ranges; at most {MaxRanges} are allowed");
            return null;
        }
        var ranges = new List<IPNetwork>();
        var fine = true;
        for (var i = 0; i < texts.Count; i++)
        {
            var elementField = field == AnnotationField ? field : $"{field}[{i}]";
            if (IpText.TryParseAddressOrPrefix(texts[i]?.Trim(), out var range, out var why, maskHostBits: true)) ranges.Add(range);
            else
            {
                // Never served wider than asked: one bad range rejects the Service rather than dropping the range.
                problem(elementField, $"{why}; it must be a CIDR such as 192.0.2.0/24");
                fine = false;
            }
        }
        return fine ? Outermost(ranges) : null;
    }

    /// <summary>The filters for one address of the Service: one per port, allowing the ranges of the address's family.</summary>
    public static IEnumerable<SourceFilter> Filters(ValueList<IPNetwork> ranges, IPNetwork destination, IEnumerable<(int Port, Protocol Protocol)> ports)
    {
        var family = destination.BaseAddress.AddressFamily;
        var allowed = ranges.Where(r => r.BaseAddress.AddressFamily == family).ToValueList();
        // Everything of the family is allowed: no filter at all.
        if (allowed.Any(r => r.PrefixLength == 0)) return [];
        return ports.Select(p => new SourceFilter(destination, p.Protocol, p.Port, allowed));
    }

    /// <summary>
    /// Prefixes either nest or are apart, so leaving out each one inside another leaves a set without overlaps
    /// (nft refuses overlapping intervals in a set), in address order.
    /// </summary>
    private static ValueList<IPNetwork> Outermost(List<IPNetwork> ranges) =>
        ranges.Distinct()
            .Where(r => !ranges.Any(o => o.PrefixLength < r.PrefixLength && o.BaseAddress.AddressFamily == r.BaseAddress.AddressFamily && o.Contains(r.BaseAddress)))
            .OrderBy(r => r.BaseAddress, AddressOrder.Instance)
            .ThenBy(r => r.PrefixLength)
            .ToValueList();
}
