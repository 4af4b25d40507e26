using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using k8s;
using k8s.Models;

namespace PortableLb.Kubernetes;

/// <summary>One page of a list: the items, the resourceVersion a watch resumes from, and the next page's token.</summary>
public sealed record ObjectPage<T>(IReadOnlyList<T> Items, string ResourceVersion, string? Continue);

/// <summary>
/// Where a kind lives in the API and how its JSON is read (the package's models, our generated JSON): everything the informer needs
/// to list and watch it, whatever the kind.
/// </summary>
public sealed record ResourceType<T>(
    string Group, string Version, string Kind, string Plural, JsonTypeInfo<T> Item,
    Func<Stream, CancellationToken, ValueTask<ObjectPage<T>>> ReadPage)
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>"api/v1/namespaces/ns/services/name/status", or the cluster-wide form without a namespace.</summary>
    public string Path(string? @namespace, string? name = null, string? subresource = null)
    {
        var root = Group.Length == 0 ? $"api/{Version}" : $"apis/{Group}/{Version}";
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

    public static ResourceType<V1Service> Services { get; } = Of("", "v1", "Service", "services", Json.V1Service, Json.V1ServiceList);
    public static ResourceType<V1EndpointSlice> EndpointSlices { get; } = Of("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", Json.V1EndpointSlice, Json.V1EndpointSliceList);
    public static ResourceType<V1ConfigMap> ConfigMaps { get; } = Of("", "v1", "ConfigMap", "configmaps", Json.V1ConfigMap, Json.V1ConfigMapList);
    public static ResourceType<V1Secret> Secrets { get; } = Of("", "v1", "Secret", "secrets", Json.V1Secret, Json.V1SecretList);
    public static ResourceType<V1Pod> Pods { get; } = Of("", "v1", "Pod", "pods", Json.V1Pod, Json.V1PodList);
    public static ResourceType<V1Lease> Leases { get; } = Of("coordination.k8s.io", "v1", "Lease", "leases", Json.V1Lease, Json.V1LeaseList);
    public static ResourceType<Eventsv1Event> Events { get; } = Of("events.k8s.io", "v1", "Event", "events", Json.Eventsv1Event, Json.Eventsv1EventList);

    private static ResourceType<T> Of<T, TList>(string group, string version, string kind, string plural, JsonTypeInfo<T> item, JsonTypeInfo<TList> list)
        where T : class, IKubernetesObject<V1ObjectMeta>
        where TList : IItems<T>, IMetadata<V1ListMeta> =>
        new(group, version, kind, plural, item, async (stream, cancellationToken) =>
        {
            var page = await JsonSerializer.DeserializeAsync(stream, list, cancellationToken).ConfigureAwait(false)
                ?? throw new JsonException($"{plural}: empty list body");
            return new ObjectPage<T>([.. page.Items ?? []], page.Metadata?.ResourceVersion ?? "", page.Metadata?.ContinueProperty is { Length: > 0 } next ? next : null);
        });
}
