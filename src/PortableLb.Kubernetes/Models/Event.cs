namespace PortableLb.Kubernetes.Models;

/// <summary>events.k8s.io/v1 Event: how a failed apply is reported on the Service it concerns.</summary>
public sealed record Event : IKubernetesObject
{
    public string? ApiVersion { get; init; } = "events.k8s.io/v1";
    public string? Kind { get; init; } = "Event";
    public ObjectMeta? Metadata { get; init; }
    public DateTimeOffset? EventTime { get; init; }
    public string? ReportingController { get; init; }
    public string? ReportingInstance { get; init; }
    public string? Action { get; init; }
    public string? Reason { get; init; }
    public string? Note { get; init; }
    public string? Type { get; init; }
    public ObjectReference? Regarding { get; init; }
}

public sealed record ObjectReference
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public string? Namespace { get; init; }
    public string? Name { get; init; }
    public string? Uid { get; init; }
    public string? ResourceVersion { get; init; }
}
