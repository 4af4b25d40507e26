namespace PortableLb.Kubernetes.Models;

/// <summary>client.authentication.k8s.io/v1 ExecCredential, as an exec plugin prints it.</summary>
public sealed record ExecCredential
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ExecCredentialStatus? Status { get; init; }
}

public sealed record ExecCredentialStatus
{
    public string? Token { get; init; }
    public string? ClientCertificateData { get; init; }
    public string? ClientKeyData { get; init; }
    public DateTimeOffset? ExpirationTimestamp { get; init; }
}
