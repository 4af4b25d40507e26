namespace PortableLb.Kubernetes.Models;

/// <summary>v1 Pod: only what `node-routes` reads of an LB pod (where it runs, its addresses, whether it is ready).</summary>
public sealed record Pod : IKubernetesObject
{
    public string? ApiVersion { get; init; } = "v1";
    public string? Kind { get; init; } = "Pod";
    public ObjectMeta? Metadata { get; init; }
    public PodSpec? Spec { get; init; }
    public PodStatus? Status { get; init; }

    /// <summary>Ready as the kubelet says: the Ready condition is True. A terminating pod can still be ready; it serves through its grace period.</summary>
    public bool IsReady => Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    /// <summary>Deleted, and in its grace period (metadata.deletionTimestamp is set).</summary>
    public bool IsTerminating => Metadata?.DeletionTimestamp is not null;

    /// <summary>status.podIPs, or status.podIP where only that is set.</summary>
    public IEnumerable<string> Addresses => Status?.PodIPs is { Count: > 0 } ips
        ? ips.Select(i => i.Ip).OfType<string>()
        : Status?.PodIP is { Length: > 0 } ip ? [ip] : [];
}

public sealed record PodSpec
{
    public string? NodeName { get; init; }
}

public sealed record PodStatus
{
    public string? PodIP { get; init; }
    public IReadOnlyList<PodIP>? PodIPs { get; init; }
    public IReadOnlyList<PodCondition>? Conditions { get; init; }
}

public sealed record PodIP(string? Ip);

public sealed record PodCondition(string? Type, string? Status);
