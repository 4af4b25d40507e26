namespace PortableLb.Kubernetes.Models;

/// <summary>The API server's error body, and the object of a watch ERROR event.</summary>
public sealed record Status
{
    public string? Kind { get; init; } = "Status";
    public string? ApiVersion { get; init; } = "v1";
    /// <summary>"Success" or "Failure".</summary>
    [System.Text.Json.Serialization.JsonPropertyName("status")]
    public string? Outcome { get; init; }
    public string? Message { get; init; }
    public string? Reason { get; init; }
    public int? Code { get; init; }
}

public sealed record ListMeta
{
    public string? ResourceVersion { get; init; }
    public string? Continue { get; init; }
    public long? RemainingItemCount { get; init; }
}

/// <summary>A list response: items plus the resourceVersion a watch resumes from and the next page's token.</summary>
public sealed record ObjectList<T>
{
    public string? ApiVersion { get; init; }
    public string? Kind { get; init; }
    public ListMeta? Metadata { get; init; }
    public IReadOnlyList<T>? Items { get; init; }
}

/// <summary>One line of a watch stream. Object is T, except for ERROR (a Status) and BOOKMARK (metadata only).</summary>
public sealed record WatchEvent
{
    public string? Type { get; init; }
    public System.Text.Json.JsonElement Object { get; init; }
}
