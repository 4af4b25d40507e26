using System.Net;
using PortableLb.Common;
using PortableLb.Kubernetes;

namespace PortableLb.Model;

/// <summary>
/// Who owns which address, protocol and port. Two virtual servers that overlap would fight in IPVS (and a prefix's
/// mark rule would swallow an address inside it), so the first Service in name order keeps the claim and the
/// later one is rejected with an error that names both.
/// </summary>
internal sealed class AddressClaims
{
    private readonly Dictionary<(Protocol, int), List<(IPNetwork Network, ServiceName Owner)>> _claims = [];

    public bool TryClaim(ServicePlan plan, List<ObjectError> errors)
    {
        var wanted = plan.VirtualServers.Select(v => v.Address switch
        {
            VirtualAddress.Socket s => (new IPNetwork(s.Address, s.Address.GetAddressBytes().Length * 8), s.Protocol, s.Port),
            VirtualAddress.Fwmark f => (f.Prefix, f.Protocol, f.Port),
            _ => throw new InvalidOperationException("unknown virtual address"),
        }).ToList();

        var pending = new List<(IPNetwork Network, Protocol Protocol, int Port)>();
        foreach (var (network, protocol, port) in wanted)
        {
            var existing = _claims.TryGetValue((protocol, port), out var list) ? list : [];
            var ownEarlier = pending.Where(p => p.Protocol == protocol && p.Port == port).Select(p => (p.Network, Owner: plan.Name));
            foreach (var (claimed, owner) in existing.Concat(ownEarlier))
            {
                if (!Overlaps(claimed, network)) continue;
                var who = owner == plan.Name ? "another of its own addresses" : $"Service {owner}";
                errors.Add(new ObjectError(new ObjectKey("Service", plan.Name.Namespace, plan.Name.Name), "spec.ports",
                    $"{network.Display()} {protocol.ToString().ToUpperInvariant()}/{port} overlaps {claimed.Display()}, already served for {who}"));
                return false;
            }
            pending.Add((network, protocol, port));
        }

        foreach (var (network, protocol, port) in wanted)
        {
            if (!_claims.TryGetValue((protocol, port), out var list)) _claims[(protocol, port)] = list = [];
            list.Add((network, plan.Name));
        }
        return true;
    }

    private static bool Overlaps(IPNetwork a, IPNetwork b) =>
        a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily && (a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress));
}
