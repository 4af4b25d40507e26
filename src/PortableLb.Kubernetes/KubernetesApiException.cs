using System.Net;
using k8s.Models;

namespace PortableLb.Kubernetes;

/// <summary>The API server said no. Carries its Status and, for 429/503, how long it asked us to wait.</summary>
public sealed class KubernetesApiException(HttpStatusCode statusCode, V1Status? status, TimeSpan? retryAfter, string request)
    : Exception($"{request}: {(int)statusCode} {status?.Reason ?? statusCode.ToString()}{(status?.Message is { } m ? $": {m}" : "")}")
{
    public HttpStatusCode StatusCode { get; } = statusCode;
    public V1Status? Status { get; } = status;
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>410: the resourceVersion we asked for is compacted away; only a fresh list can continue.</summary>
    public bool IsGone => StatusCode == HttpStatusCode.Gone;

    /// <summary>409: someone else wrote first (a stale resourceVersion) or the object already exists.</summary>
    public bool IsConflict => StatusCode == HttpStatusCode.Conflict;
}
