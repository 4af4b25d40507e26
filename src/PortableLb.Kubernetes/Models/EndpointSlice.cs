namespace PortableLb.Kubernetes.Models;

/// <summary>discovery.k8s.io/v1 EndpointSlice.</summary>
public sealed record EndpointSlice : IKubernetesObject
{
    /// <summary>The label that ties a slice to its Service.</summary>
    public const string ServiceNameLabel = "kubernetes.io/service-name";

    public string? ApiVersion { get; init; } = "discovery.k8s.io/v1";
    public string? Kind { get; init; } = "EndpointSlice";
    public ObjectMeta? Metadata { get; init; }
    public string? AddressType { get; init; }
    public IReadOnlyList<Endpoint>? Endpoints { get; init; }
    public IReadOnlyList<EndpointPort>? Ports { get; init; }
}

public sealed record Endpoint
{
    public IReadOnlyList<string>? Addresses { get; init; }
    public EndpointConditions? Conditions { get; init; }
    public string? Hostname { get; init; }
    public string? NodeName { get; init; }
    public string? Zone { get; init; }
}

/// <summary>Each condition is tri-state on the wire: null means the API server did not say.</summary>
public sealed record EndpointConditions
{
    public bool? Ready { get; init; }
    public bool? Serving { get; init; }
    public bool? Terminating { get; init; }
}

public sealed record EndpointPort
{
    public string? Name { get; init; }
    public string? Protocol { get; init; }
    public int? Port { get; init; }
    public string? AppProtocol { get; init; }
}
