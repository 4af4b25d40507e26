using System.Net;
using PortableLb.Common;
using PortableLb.Kubernetes;

namespace PortableLb.Model;

/// <summary>
/// Who owns which address, protocol and port. Two virtual servers that overlap would fight in IPVS (and a prefix's
/// mark rule would swallow an address inside it), so the Service that claimed first keeps it and the newcomer is
/// rejected with an error that names both. "First" is age (creationTimestamp, then uid), never the name: otherwise
/// a new Service named to sort early could take a served address over. Single addresses are kept in a hash, so a
/// claim costs the same however many addresses are already claimed; only prefixes, which are few, are scanned.
/// Two Services may use one single address only on different ports and only when both carry the same
/// portable-lb.io/allow-shared-ip key (MetalLB's rule), so that no Service ends up sharing by accident.
/// </summary>
internal sealed class AddressClaims
{
    private readonly Dictionary<(IPAddress Address, Protocol Protocol, int Port), ServiceName> _addresses = [];
    private readonly Dictionary<IPAddress, (ServiceName Owner, string? ShareKey)> _holders = [];
    private readonly List<(IPNetwork Prefix, Protocol Protocol, int Port, ServiceName Owner)> _prefixes = [];

    public bool TryClaim(ServicePlan plan, List<ObjectError> errors)
    {
        var pending = new AddressClaims();
        foreach (var virtualServer in plan.VirtualServers)
        {
            var (network, protocol, port) = virtualServer.Address switch
            {
                VirtualAddress.Socket s => (new IPNetwork(s.Address, s.Address.GetAddressBytes().Length * 8), s.Protocol, s.Port),
                VirtualAddress.Fwmark f => (f.Prefix, f.Protocol, f.Port),
                _ => throw new InvalidOperationException("unknown virtual address"),
            };
            var conflict = FindOverlap(network, protocol, port) is { } other ? (other.Claimed, $"Service {other.Owner}")
                : pending.FindOverlap(network, protocol, port) is { } own ? (own.Claimed, "another of its own addresses")
                : ((IPNetwork, string)?)null;
            if (conflict is var (claimed, who))
            {
                errors.Add(new ObjectError(new ObjectKey("Service", plan.Name.Namespace, plan.Name.Name), "spec.ports",
                    $"{network.Display()} {protocol.ToString().ToUpperInvariant()}/{port} overlaps {claimed.Display()}, already served for {who}"));
                return false;
            }
            if (network.IsSingleAddress() && _holders.TryGetValue(network.BaseAddress, out var holder) && holder.Owner != plan.Name
                && (plan.ShareKey is not { Length: > 0 } key || key != holder.ShareKey))
            {
                errors.Add(new ObjectError(new ObjectKey("Service", plan.Name.Namespace, plan.Name.Name), "metadata.annotations[\"" + AddressAllocator.ShareAnnotation + "\"]",
                    $"{network.Display()} is already served for Service {holder.Owner}; two Services share an address only when both carry the same {AddressAllocator.ShareAnnotation} key"));
                return false;
            }
            pending.Add(network, protocol, port, plan.Name);
        }
        foreach (var (address, owner) in pending._addresses)
        {
            _addresses[address] = owner;
            _holders.TryAdd(address.Address, (owner, plan.ShareKey));
        }
        _prefixes.AddRange(pending._prefixes);
        return true;
    }

    private (IPNetwork Claimed, ServiceName Owner)? FindOverlap(IPNetwork network, Protocol protocol, int port)
    {
        if (network.IsSingleAddress())
        {
            if (_addresses.TryGetValue((network.BaseAddress, protocol, port), out var owner)) return (network, owner);
        }
        else
        {
            foreach (var ((address, p, n), owner) in _addresses)
            {
                if (p == protocol && n == port && network.Contains(address)) return (new IPNetwork(address, address.GetAddressBytes().Length * 8), owner);
            }
        }
        foreach (var (prefix, p, n, owner) in _prefixes)
        {
            if (p == protocol && n == port && Overlaps(prefix, network)) return (prefix, owner);
        }
        return null;
    }

    private void Add(IPNetwork network, Protocol protocol, int port, ServiceName owner)
    {
        if (network.IsSingleAddress()) _addresses[(network.BaseAddress, protocol, port)] = owner;
        else _prefixes.Add((network, protocol, port, owner));
    }

    private static bool Overlaps(IPNetwork a, IPNetwork b) =>
        a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily && (a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress));
}
