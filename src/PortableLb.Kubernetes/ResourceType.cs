using System.Text.Json.Serialization.Metadata;
using PortableLb.Kubernetes.Models;

namespace PortableLb.Kubernetes;

/// <summary>Where a kind lives in the API and how its JSON is read: everything the client needs to list, watch and write it.</summary>
public sealed record ResourceType<T>(string Group, string Version, string Plural, JsonTypeInfo<T> Item, JsonTypeInfo<ObjectList<T>> List)
    where T : class, IKubernetesObject
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>"/api/v1/namespaces/ns/services/name/status", or the cluster-wide form without a namespace.</summary>
    public string Path(string? @namespace, string? name = null, string? subresource = null)
    {
        var root = Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";
        var scope = @namespace is null ? "" : $"/namespaces/{Uri.EscapeDataString(@namespace)}";
        var item = name is null ? "" : $"/{Uri.EscapeDataString(name)}";
        var sub = subresource is null ? "" : $"/{subresource}";
        return $"{root}{scope}/{Plural}{item}{sub}";
    }
}

/// <summary>The kinds PortableLb reads and writes, and nothing more.</summary>
public static class Resources
{
    private static KubernetesJsonContext Json => KubernetesJsonContext.Default;

    public static ResourceType<Service> Services { get; } = new("", "v1", "services", Json.Service, Json.ObjectListService);
    public static ResourceType<EndpointSlice> EndpointSlices { get; } = new("discovery.k8s.io", "v1", "endpointslices", Json.EndpointSlice, Json.ObjectListEndpointSlice);
    public static ResourceType<ConfigMap> ConfigMaps { get; } = new("", "v1", "configmaps", Json.ConfigMap, Json.ObjectListConfigMap);
    public static ResourceType<Secret> Secrets { get; } = new("", "v1", "secrets", Json.Secret, Json.ObjectListSecret);
    public static ResourceType<Pod> Pods { get; } = new("", "v1", "pods", Json.Pod, Json.ObjectListPod);
    public static ResourceType<Lease> Leases { get; } = new("coordination.k8s.io", "v1", "leases", Json.Lease, Json.ObjectListLease);
    public static ResourceType<Event> Events { get; } = new("events.k8s.io", "v1", "events", Json.Event, Json.ObjectListEvent);
}
