namespace PortableLb.Kubernetes.Models;

public sealed record ConfigMap : IKubernetesObject
{
    public string? ApiVersion { get; init; } = "v1";
    public string? Kind { get; init; } = "ConfigMap";
    public ObjectMeta? Metadata { get; init; }
    public IReadOnlyDictionary<string, string>? Data { get; init; }
}
