namespace PortableLb.Testing.FakeApi;

/// <summary>A parsed API path: /api/v1/namespaces/ns/services/name/status and its cluster-scoped and group forms.</summary>
public sealed record ApiPath(string Group, string Version, string Plural, string? Namespace, string? Name, string? Subresource)
{
    /// <summary>The store's key for a resource type, as "group/plural" ("/services" for the core group).</summary>
    public string Resource => $"{Group}/{Plural}";

    public static bool TryParse(string path, out ApiPath parsed)
    {
        parsed = null!;
        var segments = path.Trim('/').Split('/');
        int rest;
        string group, version;
        if (segments is ["api", var v, ..]) (group, version, rest) = ("", v, 2);
        else if (segments is ["apis", var g, var v2, ..]) (group, version, rest) = (g, v2, 3);
        else return false;

        var tail = segments[rest..];
        string? ns = null;
        if (tail is ["namespaces", var n, _, ..])
        {
            ns = n;
            tail = tail[2..];
        }
        if (tail.Length is 0 or > 3) return false;
        parsed = new ApiPath(group, version, tail[0], ns, tail.Length > 1 ? tail[1] : null, tail.Length > 2 ? tail[2] : null);
        return true;
    }

    public static string KindOf(string plural) => plural switch
    {
        "services" => "Service",
        "endpointslices" => "EndpointSlice",
        "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        "pods" => "Pod",
        "leases" => "Lease",
        "events" => "Event",
        "nodes" => "Node",
        _ => "Unknown",
    };
}
