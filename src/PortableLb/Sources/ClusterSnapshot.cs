using PortableLb.Kubernetes;
using k8s;
using k8s.Models;

namespace PortableLb.Sources;

/// <summary>
/// An immutable view of every object PortableLb reads, taken at one moment. The builder always works from a whole
/// snapshot (level-based), never from the event that happened to wake it.
/// </summary>
public sealed class ClusterSnapshot
{
    private readonly ILookup<(string Namespace, string Service), V1EndpointSlice> _slicesByService;

    public ClusterSnapshot(IEnumerable<V1Service> services, IEnumerable<V1EndpointSlice> endpointSlices, IEnumerable<V1ConfigMap>? configMaps = null, IEnumerable<V1Secret>? secrets = null, IEnumerable<V1Pod>? pods = null)
    {
        Pods = (pods ?? []).ToList();
        Services = services.ToList();
        EndpointSlices = endpointSlices.ToList();
        ConfigMaps = (configMaps ?? []).ToList();
        Secrets = (secrets ?? []).ToList();
        _slicesByService = EndpointSlices
            .Where(s => s.Metadata?.Labels?.ContainsKey(KubernetesModels.ServiceNameLabel) == true)
            .ToLookup(s => (NamespaceOf(s), s.Metadata!.Labels![KubernetesModels.ServiceNameLabel]));
    }

    public static ClusterSnapshot Empty { get; } = new([], []);

    public IReadOnlyList<V1Service> Services { get; }
    public IReadOnlyList<V1EndpointSlice> EndpointSlices { get; }
    public IReadOnlyList<V1ConfigMap> ConfigMaps { get; }

    /// <summary>Only the BGP password Secret, when one is named: nothing else is watched or kept.</summary>
    public IReadOnlyList<V1Secret> Secrets { get; }

    /// <summary>The LB pods: those on its node for `node-routes`; all in the namespace for `run` (L2 mode's members); from the objects for `render`.</summary>
    public IReadOnlyList<V1Pod> Pods { get; }

    /// <summary>The slices labelled kubernetes.io/service-name=name in the Service's namespace.</summary>
    public IEnumerable<V1EndpointSlice> SlicesFor(string @namespace, string serviceName) => _slicesByService[(@namespace, serviceName)];

    public V1ConfigMap? FindConfigMap(string @namespace, string name) =>
        ConfigMaps.LastOrDefault(c => NamespaceOf(c) == @namespace && c.Metadata?.Name == name);

    public V1Secret? FindSecret(string @namespace, string name) =>
        Secrets.LastOrDefault(s => NamespaceOf(s) == @namespace && s.Metadata?.Name == name);

    private static string NamespaceOf(IKubernetesObject<V1ObjectMeta> obj) => ObjectKey.Of(obj).Namespace;
}
