using System.Text.Json;

namespace PortableLb.Kubernetes;

/// <summary>
/// One line of a watch stream. Object is the kind watched, except for ERROR (a Status) and BOOKMARK (metadata only),
/// so it stays a JsonElement until the type is known. KubernetesClient.Aot has no watch, hence this one type of ours.
/// </summary>
public sealed record WatchEvent
{
    public string? Type { get; init; }
    public JsonElement Object { get; init; }
}
