using System.Net;
using System.Net.Sockets;
using PortableLb.Kubernetes;
using PortableLb.Kubernetes.Models;
using PortableLb.Sources;

namespace PortableLb.Model;

/// <summary>A pod address and port behind one Service port, before weights are given.</summary>
public readonly record struct EndpointCandidate(IPAddress Address, int Port, bool Ready);

/// <summary>
/// The EndpointSlice rules: which endpoints serve a Service port in one address family, and on which port.
/// Mirrors what kube-proxy does with the same slices, so PortableLb and the cluster agree on who is up.
/// </summary>
public static class RealServerSelection
{
    public static string AddressType(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";

    /// <summary>Endpoints that can serve, de-duplicated by address and port; a ready copy beats a terminating one.</summary>
    public static List<EndpointCandidate> Candidates(
        ClusterSnapshot snapshot, ServiceName service, ServicePort servicePort, Protocol protocol, int servicePortCount,
        AddressFamily family, ICollection<ObjectError> errors)
    {
        var byAddress = new Dictionary<(IPAddress, int), EndpointCandidate>();
        foreach (var slice in snapshot.SlicesFor(service.Namespace, service.Name))
        {
            if (slice.AddressType != AddressType(family)) continue;
            if (MatchingPort(slice, servicePort, protocol, servicePortCount) is not { } port) continue;
            var sliceKey = ObjectKey.Of(slice);
            for (var i = 0; i < (slice.Endpoints?.Count ?? 0); i++)
            {
                var endpoint = slice.Endpoints![i];
                if (!CanServe(endpoint, out var ready)) continue;
                // Addresses are fungible by the API's definition and kube-proxy uses only the first; so do we.
                var text = endpoint.Addresses is { Count: > 0 } addresses ? addresses[0] : null;
                if (!IpText.TryParseAddress(text, out var address) || address.AddressFamily != family)
                {
                    errors.Add(new ObjectError(sliceKey, $"endpoints[{i}].addresses[0]",
                        $"\"{IpText.Printable(text ?? "")}\" is not an {AddressType(family)} address; the endpoint is skipped"));
                    continue;
                }
                var candidate = new EndpointCandidate(address, port, ready);
                if (!byAddress.TryGetValue((address, port), out var existing) || (ready && !existing.Ready))
                {
                    byAddress[(address, port)] = candidate;
                }
            }
        }
        return byAddress.Values.ToList();
    }

    /// <summary>
    /// Ready endpoints serve. Terminating ones that still serve are kept so they can drain; the rest are left out.
    /// A missing condition takes the API's documented default: ready unless said otherwise, serving like ready.
    /// </summary>
    public static bool CanServe(Endpoint endpoint, out bool ready)
    {
        var conditions = endpoint.Conditions;
        ready = conditions?.Ready ?? true;
        var serving = conditions?.Serving ?? ready;
        var terminating = conditions?.Terminating ?? false;
        return ready || (serving && terminating);
    }

    /// <summary>
    /// The slice port for a Service port: the one with the same name and protocol (the endpoint controller has
    /// already resolved named targetPorts per pod). A slice with a single unnamed port matches a single-port Service.
    /// </summary>
    public static int? MatchingPort(EndpointSlice slice, ServicePort servicePort, Protocol protocol, int servicePortCount)
    {
        var ports = slice.Ports ?? [];
        var name = servicePort.Name ?? "";
        foreach (var port in ports)
        {
            if ((port.Name ?? "") == name && ProtocolOf(port.Protocol) == protocol && port.Port is { } number && IsPort(number)) return number;
        }
        if (servicePortCount == 1 && ports.Count == 1 && string.IsNullOrEmpty(ports[0].Name)
            && ProtocolOf(ports[0].Protocol) == protocol && ports[0].Port is { } only && IsPort(only))
        {
            return only;
        }
        return null;
    }

    public static bool IsPort(int number) => number is >= 1 and <= 65_535;

    /// <summary>Kubernetes' default protocol is TCP; an unknown one matches nothing.</summary>
    public static Protocol? ProtocolOf(string? text) => text switch
    {
        null or "" or "TCP" => Protocol.Tcp,
        "UDP" => Protocol.Udp,
        "SCTP" => Protocol.Sctp,
        _ => null,
    };
}
