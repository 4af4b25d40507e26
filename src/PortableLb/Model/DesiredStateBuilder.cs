using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using PortableLb.Common;
using PortableLb.Kubernetes;
using k8s.Models;
using PortableLb.Sources;
using PortableLb.Tuning;

namespace PortableLb.Model;

/// <summary>
/// The pure translation at the heart of PortableLb: snapshot + tuning + this pod's addresses → DesiredState.
/// No I/O, no clock. A Service with an error is dropped whole and the others go on.
/// </summary>
public static partial class DesiredStateBuilder
{
    public const string LoadBalancerClass = "portable-lb.io/ipvs";

    /// <summary>Addresses × ports of one Service: each pair is a virtual server, with a checker per real server.</summary>
    public const int MaxVirtualServersPerService = 1_024;

    /// <summary>
    /// Real servers over all Services. keepalived checks each one and re-reads all of them on every reload; at 10,000
    /// its check of the config takes 0.3 s (docs/benchmarks.md). Past the bound, the newest Services are rejected.
    /// </summary>
    public const int MaxRealServers = 50_000;

    /// <summary>Kubernetes' default for sessionAffinityConfig.clientIP.timeoutSeconds (3 hours).</summary>
    public const int DefaultAffinityTimeout = 10_800;

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\z")]
    private static partial Regex Dns1123Label();

    public static bool IsServed(V1Service service) =>
        service.Spec is { Type: "LoadBalancer", LoadBalancerClass: LoadBalancerClass };

    public static BuildResult Build(ClusterSnapshot snapshot, TuningSettings tuning, NodeAddresses node, IReadOnlyCollection<ServiceName>? only = null)
    {
        var errors = new List<ObjectError>();
        var warnings = new List<string>();
        var configErrors = new List<TuningError>();
        var l2 = tuning.Mode == LbMode.L2;
        // L2 mode leaves exabgp idle: the parser refuses peers there, so there is nothing to announce to.
        var bgp = l2 ? null : BuildBgp(tuning.Bgp, node, configErrors);

        var served = snapshot.Services.Where(IsServed).ToList();
        if (only is { Count: > 0 })
        {
            served = served.Where(s => only.Contains(new ServiceName(ObjectKey.Of(s).Namespace, s.Metadata?.Name ?? ""))).ToList();
            foreach (var missing in only.Where(n => served.All(s => ObjectKey.Of(s).NamespacedName != n.ToString())))
            {
                warnings.Add($"Service {missing} was asked for but is not among the objects as a type: LoadBalancer Service with loadBalancerClass {LoadBalancerClass}");
            }
        }

        var claims = new AddressClaims();
        var reserved = new ProtectedAddresses(node, tuning.Bgp);
        var accepted = new List<ServicePlan>();
        var realServers = 0;
        foreach (var service in served.OrderBy(s => s.Metadata?.CreationTimestamp ?? DateTime.MaxValue).ThenBy(s => s.Metadata?.Uid, StringComparer.Ordinal).ThenBy(s => ObjectKey.Of(s)))
        {
            var plan = PlanService(snapshot, service, tuning, node, reserved, bgp is not null, l2, errors, warnings);
            if (plan is null) continue;
            var planned = plan.VirtualServers.Sum(v => v.RealServers.Count);
            if (realServers + planned > MaxRealServers)
            {
                errors.Add(new ObjectError(ObjectKey.Of(service), "spec", $"its {planned} real servers would bring the total past {MaxRealServers:N0}; older Services keep theirs"));
                continue;
            }
            if (!claims.TryClaim(plan, errors)) continue;
            realServers += planned;
            accepted.Add(plan);
        }
        // Claims go by age; the output goes by name, so a Service's age never reorders the rendered files.
        accepted.Sort((a, b) => new ObjectKey("Service", a.Name.Namespace, a.Name.Name).CompareTo(new ObjectKey("Service", b.Name.Namespace, b.Name.Name)));

        var marks = FwmarkAllocator.Assign(accepted.SelectMany(p => p.VirtualServers.Select(v => v.Address is VirtualAddress.Fwmark f ? FwmarkAllocator.KeyOf(p.Name, f) : null)).OfType<string>());
        var virtualServers = accepted.SelectMany(p => p.VirtualServers).Select(v => v.Address is VirtualAddress.Fwmark f
            ? v with { Address = f with { Mark = marks[FwmarkAllocator.KeyOf(v.Service, f)] } }
            : v).ToValueList();

        var announcements = accepted
            .SelectMany(p => p.Announcements.Select(a => (p.Name, a.Prefix, a.NextHop)))
            .GroupBy(a => (a.Prefix, a.NextHop))
            .Select(g => new Announcement(g.Key.Prefix, g.Key.NextHop, g.Select(a => a.Name).Distinct().ToValueList()))
            .ToValueList();

        var vrrp = l2 ? VrrpPlanner.Plan(accepted.SelectMany(p => p.L2Addresses).ToList(), snapshot, tuning.L2, node, errors, configErrors, warnings) : null;

        var state = configErrors.Count > 0 ? DesiredState.Empty : new DesiredState(virtualServers, bgp, announcements)
        {
            SourceFilters = accepted.SelectMany(p => p.SourceFilters).ToValueList(),
            Vrrp = vrrp,
        };
        return new BuildResult(state, errors.Distinct().ToList(), configErrors, warnings, accepted.Select(p => p.Summary()).ToList());
    }

    private static BgpConfig? BuildBgp(BgpSettings settings, NodeAddresses node, List<TuningError> configErrors)
    {
        if (!settings.Enabled) return null;
        var routerId = settings.RouterId ?? node.PodIPv4;
        if (routerId is null)
        {
            configErrors.Add(new TuningError("tuning", "bgp.routerId", "is empty and there is no IPv4 --pod-ip to default to; BGP identifiers are IPv4-shaped"));
            return null;
        }
        var neighbors = new List<BgpNeighbor>();
        foreach (var peer in settings.Peers)
        {
            var localAddress = settings.LocalAddress ?? node.Pod(peer.AddressFamily);
            if (localAddress is null || localAddress.AddressFamily != peer.AddressFamily)
            {
                configErrors.Add(new TuningError("tuning", "bgp.localAddress", localAddress is null
                    ? $"is empty and there is no {IpText.FamilyName(peer.AddressFamily)} --pod-ip to reach peer {peer} from"
                    : $"{localAddress} cannot reach peer {peer}: the families differ"));
                continue;
            }
            neighbors.Add(new BgpNeighbor(peer, routerId, localAddress, settings.LocalAs, settings.PeerAs, settings.HoldTime) { Md5Password = settings.Md5Password });
        }
        return configErrors.Count > 0 ? null : new BgpConfig(neighbors.ToValueList(), settings.Communities);
    }

    private static ServicePlan? PlanService(
        ClusterSnapshot snapshot, V1Service service, TuningSettings tuning, NodeAddresses node, ProtectedAddresses reserved, bool bgpEnabled, bool l2,
        List<ObjectError> errors, List<string> warnings)
    {
        var key = ObjectKey.Of(service);
        var problems = new List<ObjectError>();
        void Problem(string field, string message) => problems.Add(new ObjectError(key, field, message));

        if (!Dns1123Label().IsMatch(key.Name)) Problem("metadata.name", $"\"{IpText.Printable(key.Name)}\" is not a valid Service name (a DNS-1123 label)");
        if (!Dns1123Label().IsMatch(key.Namespace)) Problem("metadata.namespace", $"\"{IpText.Printable(key.Namespace)}\" is not a valid namespace (a DNS-1123 label)");
        var name = new ServiceName(key.Namespace, key.Name);
        var settings = tuning.For(name.ToString());
        var addresses = ServiceAddresses.Resolve(service, reserved, tuning.Pools, Problem);
        var ports = ValidPorts(service, Problem);
        var persistence = PersistenceTimeout(service, settings, Problem);
        var sourceRanges = SourceRanges.Of(service, Problem);
        if ((long)addresses.Count * ports.Count > MaxVirtualServersPerService)
        {
            Problem("spec.ports", $"{addresses.Count} addresses × {ports.Count} ports make {addresses.Count * ports.Count} virtual servers; a Service may have at most {MaxVirtualServersPerService}");
        }
        if (problems.Count > 0)
        {
            errors.AddRange(problems);
            return null;
        }

        if (l2)
        {
            foreach (var prefix in addresses.Where(a => a.IsPrefix))
            {
                Problem(prefix.Field, $"{prefix.Network.Display()} is a prefix; L2 mode holds single addresses (VRRP answers ARP for each), so a prefix needs mode: bgp");
            }
            if (problems.Count > 0)
            {
                errors.AddRange(problems);
                return null;
            }
        }

        var plan = new ServicePlan(name, addresses, service.Metadata?.Annotations.ValueOf(AddressAllocator.ShareAnnotation));
        foreach (var address in addresses)
        {
            var family = address.Address.AddressFamily;
            if (sourceRanges is { } ranges) plan.SourceFilters.AddRange(SourceRanges.Filters(ranges, address.Network, ports.Select(p => (p.Port.Port, p.Protocol))));
            foreach (var (port, protocol, field) in ports)
            {
                var candidates = RealServerSelection.Candidates(snapshot, name, port, protocol, ports.Count, family, errors);
                // A real server at the virtual address itself would loop every connection back into IPVS.
                if (candidates.RemoveAll(c => address.Network.Contains(c.Address)) > 0)
                {
                    errors.Add(new ObjectError(key, address.Field, $"an endpoint of this Service is at {address.Network.Display()}, its own load-balancer address; that endpoint is skipped"));
                }
                if (candidates.Count == 0) continue;
                var realServers = Weigh(candidates, settings, protocol, warnings, name);
                if (!address.IsPrefix && settings.Forwarding != Forwarding.Nat && realServers.FirstOrDefault(r => r.Port != port.Port) is { } moved)
                {
                    Problem(field, $"forwarding {settings.Forwarding.ToString().ToLowerInvariant()} cannot change ports, but port {port.Port} goes to endpoint port {moved.Port}; use nat or make targetPort equal port");
                    continue;
                }
                VirtualAddress virtualAddress = address.IsPrefix
                    ? new VirtualAddress.Fwmark(0, address.Network, port.Port, protocol)
                    : new VirtualAddress.Socket(address.Address, port.Port, protocol);
                plan.VirtualServers.Add(new VirtualServer(name, virtualAddress, settings.Scheduler, settings.Forwarding, settings.DelayLoop, persistence, realServers));
            }

            var serving = plan.VirtualServers.Any(v => Covers(address, v.Address));
            if (l2 && (serving || tuning.Bgp.Announce == AnnounceMode.Always)) plan.L2Addresses.Add(new L2Address(address.Address, name, key, address.Field));
            if (!bgpEnabled || (!serving && tuning.Bgp.Announce == AnnounceMode.WhenServing)) continue;
            if (NextHop(tuning.Bgp.NextHop, node, family) is { } nextHop && nextHop.AddressFamily == family)
            {
                plan.Announcements.Add(new Announcement(address.Network, nextHop, ValueList.Of(name)));
            }
            else
            {
                Problem(address.Field, $"{address.Network.Display()} needs an {IpText.FamilyName(family)} next-hop, but {DescribeNextHop(tuning.Bgp.NextHop, family)}");
            }
        }

        if (problems.Count > 0)
        {
            errors.AddRange(problems);
            return null;
        }
        return plan;
    }

    private static List<(V1ServicePort Port, Protocol Protocol, string Field)> ValidPorts(V1Service service, Action<string, string> problem)
    {
        var result = new List<(V1ServicePort, Protocol, string)>();
        var seen = new HashSet<(int, Protocol)>();
        var ports = service.Spec?.Ports ?? [];
        if (ports.Count == 0) problem("spec.ports", "a LoadBalancer Service needs at least one port");
        for (var i = 0; i < ports.Count; i++)
        {
            var field = $"spec.ports[{i}]";
            var port = ports[i];
            if (RealServerSelection.ProtocolOf(port.Protocol) is not { } protocol)
            {
                problem($"{field}.protocol", $"\"{IpText.Printable(port.Protocol ?? "")}\" is not one of TCP, UDP, SCTP");
                continue;
            }
            if (!RealServerSelection.IsPort(port.Port))
            {
                problem($"{field}.port", $"{port.Port} is not a port number (1-65535)");
                continue;
            }
            if (!seen.Add((port.Port, protocol)))
            {
                problem($"{field}.port", $"{port.Port}/{protocol.ToString().ToUpperInvariant()} is listed twice");
                continue;
            }
            result.Add((port, protocol, field));
        }
        return result;
    }

    private static int PersistenceTimeout(V1Service service, VirtualServerSettings settings, Action<string, string> problem)
    {
        switch (service.Spec?.SessionAffinity)
        {
            case null or "" or "None":
                return settings.PersistenceTimeout;
            case "ClientIP":
                var timeout = service.Spec.SessionAffinityConfig?.ClientIP?.TimeoutSeconds ?? DefaultAffinityTimeout;
                if (timeout is >= 1 and <= 86_400) return timeout;
                problem("spec.sessionAffinityConfig.clientIP.timeoutSeconds", $"{timeout} is outside 1-86400");
                return 0;
            default:
                problem("spec.sessionAffinity", $"\"{IpText.Printable(service.Spec.SessionAffinity)}\" is not one of None, ClientIP");
                return 0;
        }
    }

    /// <summary>
    /// Ready endpoints get the configured weight and terminating ones 0, so they drain as kube-proxy drains them.
    /// When nothing in the virtual server is ready, the terminating ones keep their weight (KEP-1669): they are
    /// all that can answer.
    /// </summary>
    private static ValueList<RealServer> Weigh(List<EndpointCandidate> candidates, VirtualServerSettings settings, Protocol protocol, List<string> warnings, ServiceName service)
    {
        var anyReady = candidates.Any(c => c.Ready);
        return candidates
            .OrderBy(c => c.Address, AddressOrder.Instance).ThenBy(c => c.Port)
            .Select(c =>
            {
                var state = c.Ready ? RealServerState.Ready : anyReady ? RealServerState.Draining : RealServerState.TerminatingFallback;
                var weight = state == RealServerState.Draining ? 0 : settings.Weight;
                return new RealServer(c.Address, c.Port, weight, settings.UpperThreshold, state, CheckFor(settings.HealthCheck, protocol, c.Port, warnings, service));
            })
            .ToValueList();
    }

    private static HealthCheck CheckFor(HealthCheckSettings check, Protocol protocol, int realServerPort, List<string> warnings, ServiceName service)
    {
        var kind = (check.Type, protocol) switch
        {
            (HealthCheckType.None, _) => CheckKind.None,
            (HealthCheckType.Http, _) => CheckKind.Http,
            (HealthCheckType.Https, _) => CheckKind.Https,
            (HealthCheckType.Tcp, Protocol.Tcp) => CheckKind.Tcp,
            (HealthCheckType.Tcp, Protocol.Udp) => CheckKind.Udp,
            _ => CheckKind.None,
        };
        if (check.Type == HealthCheckType.Tcp && protocol == Protocol.Sctp)
        {
            var warning = $"Service {service}: keepalived has no SCTP checker, so its SCTP real servers are not health-checked; set healthCheck.type http or https to check them over TCP";
            if (!warnings.Contains(warning)) warnings.Add(warning);
        }
        return new HealthCheck(kind, check.ConnectTimeout, check.Retry, check.DelayBeforeRetry,
            check.Port == 0 ? realServerPort : check.Port, check.Path, check.StatusCode);
    }

    private static bool Covers(ServiceAddress address, VirtualAddress virtualAddress) => virtualAddress switch
    {
        VirtualAddress.Socket s => !address.IsPrefix && s.Address.Equals(address.Address),
        VirtualAddress.Fwmark f => address.IsPrefix && f.Prefix.Equals(address.Network),
        _ => false,
    };

    private static IPAddress? NextHop(NextHopChoice choice, NodeAddresses node, AddressFamily family) => choice switch
    {
        NextHopChoice.Node => node.Node(family),
        NextHopChoice.Pod => node.Pod(family),
        NextHopChoice.Literal literal => literal.Address,
        _ => null,
    };

    private static string DescribeNextHop(NextHopChoice choice, AddressFamily family) => choice switch
    {
        NextHopChoice.Node => $"bgp.nextHop is node and no {IpText.FamilyName(family)} --node-ip was given",
        NextHopChoice.Pod => $"bgp.nextHop is pod and no {IpText.FamilyName(family)} --pod-ip was given",
        NextHopChoice.Literal literal => $"bgp.nextHop is {literal.Address}",
        _ => "bgp.nextHop is unset",
    };
}
