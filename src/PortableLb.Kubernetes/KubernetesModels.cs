using k8s.Models;

namespace PortableLb.Kubernetes;

/// <summary>What PortableLb asks of the package's models, named once.</summary>
public static class KubernetesModels
{
    /// <summary>The label that ties an EndpointSlice to its Service.</summary>
    public const string ServiceNameLabel = "kubernetes.io/service-name";

    /// <summary>Ready as the kubelet says: the Ready condition is True. A terminating pod can still be ready; it serves through its grace period.</summary>
    public static bool IsReady(this V1Pod pod) => pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    /// <summary>Deleted, and in its grace period (metadata.deletionTimestamp is set).</summary>
    public static bool IsTerminating(this V1Pod pod) => pod.Metadata?.DeletionTimestamp is not null;

    /// <summary>status.podIPs, or status.podIP where only that is set.</summary>
    public static IEnumerable<string> Addresses(this V1Pod pod) => pod.Status?.PodIPs is { Count: > 0 } ips
        ? ips.Select(i => i.Ip).OfType<string>()
        : pod.Status?.PodIP is { Length: > 0 } ip ? [ip] : [];

    /// <summary>A label, annotation or data value; the models' maps are nullable IDictionaries.</summary>
    public static TValue? ValueOf<TValue>(this IDictionary<string, TValue>? map, string key) where TValue : class =>
        map is not null && map.TryGetValue(key, out var value) ? value : null;
}
