using PortableLb.Kubernetes.Models;

namespace PortableLb.Kubernetes;

/// <summary>How errors and logs name an object: "Service default/web".</summary>
public readonly record struct ObjectKey(string Kind, string Namespace, string Name) : IComparable<ObjectKey>
{
    public string NamespacedName => $"{Namespace}/{Name}";

    public static ObjectKey Of(IKubernetesObject obj, string defaultNamespace = "default") =>
        new(obj.Kind ?? "?", obj.Metadata?.Namespace is { Length: > 0 } ns ? ns : defaultNamespace, obj.Metadata?.Name ?? "");

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
