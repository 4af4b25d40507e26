using PortableLb.Common;

namespace PortableLb.Model;

/// <summary>
/// What this LB pod can serve right now, as opposed to what the cluster asks it to: whether keepalived runs, and the
/// kernel's IPVS table (null where the kernel has no IPVS, so nothing can confirm what keepalived programmed).
/// </summary>
public sealed record ServingFacts(bool KeepalivedRunning, IpvsTable? Ipvs)
{
    /// <summary>No daemons are watched (`render`): every announcement the cluster asks for is written, as where keepalived runs on a kernel without IPVS.</summary>
    public static ServingFacts Ungated { get; } = new(true, null);
}

/// <summary>
/// Announce only what is served. With ECMP, a route from an LB pod that cannot forward black-holes its share of the
/// flows, so an address is announced only while keepalived runs and, where the kernel has IPVS, only once every one
/// of its virtual servers is in the kernel's table with a real server that takes new connections. A VIP whose
/// keepalived died is withdrawn; a new one is announced once keepalived has programmed it, not when its config was
/// written.
/// </summary>
public static class ServingGate
{
    public static ValueList<Announcement> Announceable(DesiredState state, ServingFacts facts)
    {
        if (!facts.KeepalivedRunning) return ValueList<Announcement>.Empty;
        if (facts.Ipvs is not { } table) return state.Announcements;
        return state.Announcements.Where(a => VirtualServersOf(state, a).All(v => table.Serves(v.Address))).ToValueList();
    }

    /// <summary>The virtual servers behind an announcement: those of its Services at exactly its address or prefix.</summary>
    private static IEnumerable<VirtualServer> VirtualServersOf(DesiredState state, Announcement announcement) =>
        state.VirtualServers.Where(v => announcement.Services.Contains(v.Service) && v.Address switch
        {
            VirtualAddress.Socket s => announcement.Prefix.IsSingleAddress() && announcement.Prefix.BaseAddress.Equals(s.Address),
            VirtualAddress.Fwmark f => announcement.Prefix.Equals(f.Prefix),
            _ => false,
        });
}
