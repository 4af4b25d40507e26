namespace PortableLb.Kubernetes.Models;

public sealed record Secret : IKubernetesObject
{
    public string? ApiVersion { get; init; } = "v1";
    public string? Kind { get; init; } = "Secret";
    public ObjectMeta? Metadata { get; init; }
    public string? Type { get; init; }

    /// <summary>Values are base64 on the wire; System.Text.Json decodes byte[] from base64.</summary>
    public IReadOnlyDictionary<string, byte[]>? Data { get; init; }

    /// <summary>Write-only on the API server, which merges it into Data; seen here only in hand-written manifests.</summary>
    public IReadOnlyDictionary<string, string>? StringData { get; init; }
}
