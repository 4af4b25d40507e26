using PortableLb.Kubernetes;
using PortableLb.Kubernetes.Models;

namespace PortableLb.Sources;

/// <summary>
/// An immutable view of every object PortableLb reads, taken at one moment. The builder always works from a whole
/// snapshot (level-based), never from the event that happened to wake it.
/// </summary>
public sealed class ClusterSnapshot
{
    private readonly ILookup<(string Namespace, string Service), EndpointSlice> _slicesByService;

    public ClusterSnapshot(IEnumerable<Service> services, IEnumerable<EndpointSlice> endpointSlices, IEnumerable<ConfigMap>? configMaps = null, IEnumerable<Secret>? secrets = null, IEnumerable<Pod>? pods = null)
    {
        Pods = (pods ?? []).ToList();
        Services = services.ToList();
        EndpointSlices = endpointSlices.ToList();
        ConfigMaps = (configMaps ?? []).ToList();
        Secrets = (secrets ?? []).ToList();
        _slicesByService = EndpointSlices
            .Where(s => s.Metadata?.Labels?.ContainsKey(EndpointSlice.ServiceNameLabel) == true)
            .ToLookup(s => (NamespaceOf(s), s.Metadata!.Labels![EndpointSlice.ServiceNameLabel]));
    }

    public static ClusterSnapshot Empty { get; } = new([], []);

    public IReadOnlyList<Service> Services { get; }
    public IReadOnlyList<EndpointSlice> EndpointSlices { get; }
    public IReadOnlyList<ConfigMap> ConfigMaps { get; }

    /// <summary>Only the BGP password Secret, when one is named: nothing else is watched or kept.</summary>
    public IReadOnlyList<Secret> Secrets { get; }

    /// <summary>The LB pods `node-routes` watches (those on its node); empty for `run` and `render`.</summary>
    public IReadOnlyList<Pod> Pods { get; }

    /// <summary>The slices labelled kubernetes.io/service-name=name in the Service's namespace.</summary>
    public IEnumerable<EndpointSlice> SlicesFor(string @namespace, string serviceName) => _slicesByService[(@namespace, serviceName)];

    public ConfigMap? FindConfigMap(string @namespace, string name) =>
        ConfigMaps.LastOrDefault(c => NamespaceOf(c) == @namespace && c.Metadata?.Name == name);

    public Secret? FindSecret(string @namespace, string name) =>
        Secrets.LastOrDefault(s => NamespaceOf(s) == @namespace && s.Metadata?.Name == name);

    private static string NamespaceOf(IKubernetesObject obj) => ObjectKey.Of(obj).Namespace;
}
