using k8s;
using k8s.Models;

namespace PortableLb.Sources;

/// <summary>A document that could not be read, named by file and 1-based document index.</summary>
public sealed record ManifestError(string Source, int Document, string Message)
{
    public override string ToString() => $"{Source}: document {Document}: {Message}";
}

/// <summary>What a folder of manifests holds: the objects PortableLb reads, and the documents it could not.</summary>
public sealed record ManifestSet(ClusterSnapshot Snapshot, IReadOnlyList<ManifestError> Errors, int Documents)
{
    /// <summary>Objects skipped on purpose but worth a word: a kind PortableLb reads, in an apiVersion it does not.</summary>
    public IReadOnlyList<ManifestError> Warnings { get; init; } = [];

    public static ManifestSet From(IEnumerable<IKubernetesObject<V1ObjectMeta>> objects, IReadOnlyList<ManifestError> errors, int documents)
    {
        // Like `kubectl apply` of the same object twice, the last document wins.
        var latest = new Dictionary<Kubernetes.ObjectKey, IKubernetesObject<V1ObjectMeta>>();
        var order = new List<Kubernetes.ObjectKey>();
        foreach (var obj in objects)
        {
            var key = Kubernetes.ObjectKey.Of(obj);
            if (!latest.ContainsKey(key)) order.Add(key);
            latest[key] = obj;
        }
        var ordered = order.Select(k => latest[k]).ToList();
        return new ManifestSet(
            new ClusterSnapshot(ordered.OfType<V1Service>(), ordered.OfType<V1EndpointSlice>(), ordered.OfType<V1ConfigMap>(), ordered.OfType<V1Secret>(), ordered.OfType<V1Pod>()),
            errors,
            documents);
    }
}
