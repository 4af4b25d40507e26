namespace PortableLb.Kubernetes.Models;

public sealed record Node : IKubernetesObject
{
    public string? ApiVersion { get; init; } = "v1";
    public string? Kind { get; init; } = "Node";
    public ObjectMeta? Metadata { get; init; }
    public NodeStatus? Status { get; init; }
}

public sealed record NodeStatus
{
    public IReadOnlyList<NodeAddress>? Addresses { get; init; }
}

public sealed record NodeAddress
{
    public string? Type { get; init; }
    public string? Address { get; init; }
}
