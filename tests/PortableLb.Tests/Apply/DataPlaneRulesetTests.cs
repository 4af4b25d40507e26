using PortableLb.Apply;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Apply;

public sealed class DataPlaneRulesetTests
{
    [Test]
    public void NAT_real_servers_of_both_families_are_masqueraded_and_DR_ones_are_not()
    {
        var state = Build(
            Service("web", address: "192.0.2.10") + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2]}]")
            + Service("web6", address: "2001:db8::10") + Slice("web6", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6")
            + Service("direct", address: "192.0.2.20", ports: "[{name: http, port: 8080}]") + Slice("direct", "[{addresses: [10.244.9.9]}]"),
            Tune("services:\n  default/direct: {forwarding: dr}")).State;
        var ruleset = DataPlane.Ruleset(state);
        Assert.That(ruleset, Does.Contain("type nat hook postrouting priority srcnat; policy accept;"));
        Assert.That(ruleset, Does.Contain("ip daddr { 10.244.1.1, 10.244.1.2 } masquerade"));
        Assert.That(ruleset, Does.Contain("ip6 daddr { fd00::1 } masquerade"));
        Assert.That(ruleset, Does.Not.Contain("10.244.9.9"), "DR keeps the client's address: no masquerade");
    }

    /// <summary>
    /// L2 mode runs in the node's namespace, where kube-proxy and the kubelet reach the same pods: a plain
    /// `daddr` match would masquerade their traffic too, so only connections first addressed to a VIP are.
    /// </summary>
    [Test]
    public void In_L2_mode_only_connections_to_a_VIP_are_masqueraded()
    {
        var node = new PortableLb.Model.NodeAddresses(null, null, System.Net.IPAddress.Parse("172.18.0.2"), null) { Interface = "eth0" };
        var state = Build(
            Service("web", address: "192.0.2.10") + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2]}]")
            + Service("web6", address: "2001:db8::10") + Slice("web6", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6"),
            Tune("mode: l2"), node).State;

        var ruleset = DataPlane.Ruleset(state);

        Assert.That(ruleset, Does.Contain("ct original ip daddr { 192.0.2.10 } ip daddr { 10.244.1.1, 10.244.1.2 } masquerade\n"));
        Assert.That(ruleset, Does.Contain("ct original ip6 daddr { 2001:db8::10 } ip6 daddr { fd00::1 } masquerade\n"));
    }
}
