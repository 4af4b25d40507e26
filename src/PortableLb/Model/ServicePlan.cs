using PortableLb.Common;

namespace PortableLb.Model;

/// <summary>One Service's share of the desired state, held apart until the Service is known to be free of errors and conflicts.</summary>
internal sealed class ServicePlan(ServiceName name, IReadOnlyList<ServiceAddress> addresses, string? shareKey = null)
{
    public ServiceName Name { get; } = name;

    /// <summary>The portable-lb.io/allow-shared-ip key: Services share a single address only when both carry the same one.</summary>
    public string? ShareKey { get; } = shareKey;
    public IReadOnlyList<ServiceAddress> Addresses { get; } = addresses;
    public List<VirtualServer> VirtualServers { get; } = [];
    public List<Announcement> Announcements { get; } = [];
    public List<SourceFilter> SourceFilters { get; } = [];

    /// <summary>L2 mode: the addresses this Service holds through VRRP (those it serves, or all with announce: always).</summary>
    public List<L2Address> L2Addresses { get; } = [];

    public ServiceSummary Summary()
    {
        var announced = Announcements.Select(a => a.Prefix.Display()).Concat(L2Addresses.Select(a => a.Vip.ToString())).ToList();
        return new ServiceSummary(
            Name,
            Addresses.Select(a => a.Network.Display()).ToValueList(),
            VirtualServers.Count,
            VirtualServers.Sum(v => v.RealServers.Count),
            announced.ToValueList(),
            Addresses.Where(a => !Announcements.Any(n => n.Prefix.Equals(a.Network)) && !L2Addresses.Any(l => l.Vip.Equals(a.Address))).Select(a => a.Network.Display()).ToValueList());
    }
}
