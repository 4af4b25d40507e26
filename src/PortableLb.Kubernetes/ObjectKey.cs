using k8s;
using k8s.Models;

namespace PortableLb.Kubernetes;

/// <summary>How errors and logs name an object: "Service default/web".</summary>
public readonly record struct ObjectKey(string Kind, string Namespace, string Name) : IComparable<ObjectKey>
{
    public string NamespacedName => $"{Namespace}/{Name}";

    public static ObjectKey Of(IKubernetesObject<V1ObjectMeta> obj, string defaultNamespace = "default") =>
        new(obj.Kind ?? KindOf(obj), obj.Metadata?.NamespaceProperty is { Length: > 0 } ns ? ns : defaultNamespace, obj.Metadata?.Name ?? "");

    /// <summary>The API server leaves kind out of a list's items, so a listed object is named by its type.</summary>
    private static string KindOf(IKubernetesObject<V1ObjectMeta> obj) => obj switch
    {
        V1Service => V1Service.KubeKind,
        V1EndpointSlice => V1EndpointSlice.KubeKind,
        V1ConfigMap => V1ConfigMap.KubeKind,
        V1Secret => V1Secret.KubeKind,
        V1Pod => V1Pod.KubeKind,
        V1Lease => V1Lease.KubeKind,
        Eventsv1Event => Eventsv1Event.KubeKind,
        _ => "?",
    };

    public int CompareTo(ObjectKey other)
    {
        var byKind = string.CompareOrdinal(Kind, other.Kind);
        if (byKind != 0) return byKind;
        var byNamespace = string.CompareOrdinal(Namespace, other.Namespace);
        return byNamespace != 0 ? byNamespace : string.CompareOrdinal(Name, other.Name);
    }

    /// <summary>Names come from manifests and the API alike; control characters are escaped so a name cannot forge log or error lines.</summary>
    public override string ToString() => $"{Escape(Kind)} {Escape(Namespace)}/{Escape(Name)}";

    private static string Escape(string text) =>
        text.Any(char.IsControl) ? string.Concat(text.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) : text;
}
