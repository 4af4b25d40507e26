using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using PortableLb.Common;
using PortableLb.Kubernetes;
using k8s.Models;
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
        ClusterSnapshot snapshot, ServiceName service, V1ServicePort servicePort, Protocol protocol, int servicePortCount,
        AddressFamily family, ICollection<ObjectError> errors)
    {
        var byAddress = new Dictionary<(IPAddress, int), EndpointCandidate>();
        foreach (var slice in snapshot.SlicesFor(service.Namespace, service.Name))
        {
            if (slice.AddressType != AddressType(family)) continue;
            if (MatchingPort(slice, servicePort, protocol, servicePortCount) is not { } port) continue;
            var parsed = ParsedEndpoints.Of(slice);
            foreach (var error in parsed.Errors) errors.Add(error);
            foreach (var (address, ready) in parsed.Serving)
            {
                if (!byAddress.TryGetValue((address, port), out var existing) || (ready && !existing.Ready))
                {
                    byAddress[(address, port)] = new EndpointCandidate(address, port, ready);
                }
            }
        }
        return byAddress.Values.ToList();
    }

    /// <summary>
    /// A slice's endpoints, parsed once per slice object. Objects in a snapshot are immutable and the cache hands the
    /// same instance to every snapshot until the slice changes, so a rebuild after one change re-parses one slice.
    /// </summary>
    private sealed class ParsedEndpoints
    {
        private static readonly ConditionalWeakTable<V1EndpointSlice, ParsedEndpoints> Cache = [];

        public List<(IPAddress Address, bool Ready)> Serving { get; } = [];
        public List<ObjectError> Errors { get; } = [];

        public static ParsedEndpoints Of(V1EndpointSlice slice) => Cache.GetValue(slice, Parse);

        private static ParsedEndpoints Parse(V1EndpointSlice slice)
        {
            var result = new ParsedEndpoints();
            var family = slice.AddressType == "IPv6" ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
            for (var i = 0; i < (slice.Endpoints?.Count ?? 0); i++)
            {
                var endpoint = slice.Endpoints![i];
                if (!CanServe(endpoint, out var ready)) continue;
                // Addresses are fungible by the API's definition and kube-proxy uses only the first; so do we.
                var text = endpoint.Addresses is { Count: > 0 } addresses ? addresses[0] : null;
                if (!IpText.TryParseAddress(text, out var address) || address.AddressFamily != family)
                {
                    result.Errors.Add(new ObjectError(ObjectKey.Of(slice), $"endpoints[{i}].addresses[0]",
                        $"\"{IpText.Printable(text ?? "")}\" is not an {AddressType(family)} address; the endpoint is skipped"));
                    continue;
                }
                if (IpText.SpecialPurposeRange(address) is { } range)
                {
                    result.Errors.Add(new ObjectError(ObjectKey.Of(slice), $"endpoints[{i}].addresses[0]",
                        $"{address} is in {range}, never a pod's address; the endpoint is skipped"));
                    continue;
                }
                result.Serving.Add((address, ready));
            }
            return result;
        }
    }

    /// <summary>
    /// Ready endpoints serve. Terminating ones that still serve are kept so they can drain; the rest are left out.
    /// A missing condition takes the API's documented default: ready unless said otherwise, serving like ready.
    /// </summary>
    public static bool CanServe(V1Endpoint endpoint, out bool ready)
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
    public static int? MatchingPort(V1EndpointSlice slice, V1ServicePort servicePort, Protocol protocol, int servicePortCount)
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
