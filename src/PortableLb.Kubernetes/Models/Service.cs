namespace PortableLb.Kubernetes.Models;

public sealed record Service : IKubernetesObject
{
    public string? ApiVersion { get; init; } = "v1";
    public string? Kind { get; init; } = "Service";
    public ObjectMeta? Metadata { get; init; }
    public ServiceSpec? Spec { get; init; }
    public ServiceStatus? Status { get; init; }
}

public sealed record ServiceSpec
{
    public string? Type { get; init; }
    public string? LoadBalancerClass { get; init; }
    public string? LoadBalancerIP { get; init; }
    public IReadOnlyList<string>? ExternalIPs { get; init; }
    public IReadOnlyList<ServicePort>? Ports { get; init; }
    public IReadOnlyList<string>? IpFamilies { get; init; }
    public string? SessionAffinity { get; init; }
    public SessionAffinityConfig? SessionAffinityConfig { get; init; }
    public string? ExternalTrafficPolicy { get; init; }
}

public sealed record ServicePort
{
    public string? Name { get; init; }
    public string? Protocol { get; init; }
    public int Port { get; init; }
    public int? NodePort { get; init; }
}

public sealed record SessionAffinityConfig
{
    public ClientIPConfig? ClientIP { get; init; }
}

public sealed record ClientIPConfig
{
    public int? TimeoutSeconds { get; init; }
}

public sealed record ServiceStatus
{
    public LoadBalancerStatus? LoadBalancer { get; init; }
}

public sealed record LoadBalancerStatus
{
    public IReadOnlyList<LoadBalancerIngress>? Ingress { get; init; }
}

public sealed record LoadBalancerIngress
{
    public string? Ip { get; init; }
    public string? Hostname { get; init; }
    public string? IpMode { get; init; }
}
