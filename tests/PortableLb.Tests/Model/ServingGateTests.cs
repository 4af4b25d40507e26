using PortableLb.Model;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Model;

public sealed class ServingGateTests
{
    // /proc/net/ip_vs as the kernel prints it (ip_vs_ctl.c): hex addresses in network order, IPv6 in full form.
    private const string Header = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n";

    private static readonly string Web = Service("web") + Slice("web", "[{addresses: [10.244.1.1]}]");
    private static readonly string Dual = Service("dual", annotation: "192.0.2.20, 2001:db8::20") + Slice("dual", "[{addresses: [10.244.1.1]}]", name: "d4")
        + Slice("dual", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6", name: "d6");

    private static IReadOnlyList<string> Announced(string yaml, ServingFacts facts) =>
        ServingGate.Announceable(Build(yaml).State, facts).Select(a => a.Prefix.ToString()).ToList();

    [Test]
    public void The_kernel_table_is_read_by_protocol_address_port_and_mark_with_the_weights_that_take_connections()
    {
        var table = IpvsTable.Parse(Header
            + "TCP  C000020A:0050 lc \n  -> 0AF40101:1F90      Masq    1      0          0         \n  -> 0AF40102:1F90      Masq    0      3          0         \n"
            + "UDP  C000020A:0035 rr \n"
            + "TCP  [2001:0db8:0000:0000:0000:0000:0000:0020]:01BB rr \n  -> [fd00:0000:0000:0000:0000:0000:0000:0001]:01BB      Masq    2      0          0         \n"
            + "FWM  0000002A lc \n  -> 0AF40101:0050      Masq    0      0          0         \n");
        Assert.That(table.Count, Is.EqualTo(4));
        Assert.That(table.Serves(new VirtualAddress.Socket(System.Net.IPAddress.Parse("192.0.2.10"), 80, Protocol.Tcp)), Is.True);
        Assert.That(table.Serves(new VirtualAddress.Socket(System.Net.IPAddress.Parse("192.0.2.10"), 80, Protocol.Udp)), Is.False, "another protocol");
        Assert.That(table.Serves(new VirtualAddress.Socket(System.Net.IPAddress.Parse("192.0.2.10"), 53, Protocol.Udp)), Is.False, "no real server");
        Assert.That(table.Serves(new VirtualAddress.Socket(System.Net.IPAddress.Parse("2001:db8::20"), 443, Protocol.Tcp)), Is.True);
        Assert.That(table.Serves(new VirtualAddress.Fwmark(42, System.Net.IPNetwork.Parse("10.1.1.0/24"), 80, Protocol.Tcp)), Is.False, "its only real server drains at weight 0");
        Assert.That(IpvsTable.Parse(Header + "TCP  nonsense lc\nFROB 1 2\n").Count, Is.Zero);
    }

    [Test]
    public void Without_keepalived_nothing_is_announced()
    {
        Assert.That(Announced(Web, new ServingFacts(false, null)), Is.Empty);
        Assert.That(Announced(Web, new ServingFacts(false, IpvsTable.Parse(Header + "TCP  C000020A:0050 lc\n  -> 0AF40101:1F90 Masq 1 0 0\n"))), Is.Empty);
    }

    [Test]
    public void With_IPVS_an_address_waits_until_every_one_of_its_virtual_servers_is_programmed()
    {
        Assert.That(Announced(Web, new ServingFacts(true, IpvsTable.Empty)), Is.Empty);
        Assert.That(Announced(Web, new ServingFacts(true, IpvsTable.Parse(Header + "TCP  C000020A:0050 lc\n  -> 0AF40101:1F90 Masq 1 0 0\n"))), Is.EqualTo(new[] { "192.0.2.10/32" }));

        var onlyIpv4 = IpvsTable.Parse(Header + "TCP  C0000214:0050 lc\n  -> 0AF40101:1F90 Masq 1 0 0\n");
        Assert.That(Announced(Dual, new ServingFacts(true, onlyIpv4)), Is.EqualTo(new[] { "192.0.2.20/32" }), "each address on its own");
    }

    [Test]
    public void A_prefix_waits_for_its_fwmark_virtual_server()
    {
        var thesis = Service("web", annotation: "10.1.1.0/24") + Slice("web", "[{addresses: [10.244.1.1]}]");
        var mark = Build(thesis).State.PacketMarks.Single().Mark;
        Assert.That(Announced(thesis, new ServingFacts(true, IpvsTable.Empty)), Is.Empty);
        Assert.That(Announced(thesis, new ServingFacts(true, IpvsTable.Parse(Header + $"FWM  {mark:X8} lc\n  -> 0AF40101:1F90 Masq 1 0 0\n"))), Is.EqualTo(new[] { "10.1.1.0/24" }));
    }

    [Test]
    public void Where_the_kernel_has_no_IPVS_a_running_keepalived_is_all_that_can_be_known()
    {
        Assert.That(Announced(Web, new ServingFacts(true, null)), Is.EqualTo(new[] { "192.0.2.10/32" }));
        Assert.That(ServingFacts.Ungated, Is.EqualTo(new ServingFacts(true, null)));
    }
}
