namespace PortableLb.Kubernetes.Models;

/// <summary>coordination.k8s.io/v1 Lease.</summary>
public sealed record Lease : IKubernetesObject
{
    public string? ApiVersion { get; init; } = "coordination.k8s.io/v1";
    public string? Kind { get; init; } = "Lease";
    public ObjectMeta? Metadata { get; init; }
    public LeaseSpec? Spec { get; init; }
}

public sealed record LeaseSpec
{
    public string? HolderIdentity { get; init; }
    public int? LeaseDurationSeconds { get; init; }
    public DateTimeOffset? AcquireTime { get; init; }
    public DateTimeOffset? RenewTime { get; init; }
    public int? LeaseTransitions { get; init; }
}
