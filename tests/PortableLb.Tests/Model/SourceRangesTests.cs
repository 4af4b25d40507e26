using System.Net;
using PortableLb.Apply;
using PortableLb.Model;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Model;

public sealed class SourceRangesTests
{
    private const string Ready = "[{addresses: [10.244.1.1]}]";

    private static string Ranged(string name, string address, string ranges, string ports = "[{name: http, port: 80}]") =>
        Service(name, address: address, ports: ports, extraSpec: $"  loadBalancerSourceRanges: {ranges}") + Slice(name, Ready);

    [Test]
    public void Each_address_and_port_of_a_Service_with_ranges_gets_a_filter_of_its_family()
    {
        var build = Build(Ranged("web", "192.0.2.10,2001:db8::10", "[198.51.100.0/24, \"2001:db8:ff::/48\"]", "[{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]")
            + Service("open", address: "192.0.2.20") + Slice("open", Ready));
        Assert.That(build.Errors, Is.Empty);
        var filters = build.State.SourceFilters.Select(f => $"{f.Destination} {f.Protocol} {f.Port} [{string.Join(" ", f.Allowed)}]");
        Assert.That(filters, Is.EquivalentTo(new[]
        {
            "192.0.2.10/32 Tcp 80 [198.51.100.0/24]",
            "192.0.2.10/32 Udp 53 [198.51.100.0/24]",
            "2001:db8::10/128 Tcp 80 [2001:db8:ff::/48]",
            "2001:db8::10/128 Udp 53 [2001:db8:ff::/48]",
        }), "a Service without ranges is open to every source");
    }

    [Test]
    public void Ranges_only_of_the_other_family_let_no_source_reach_an_address()
    {
        var state = Build(Service("web", address: "2001:db8::10", extraSpec: "  loadBalancerSourceRanges: [198.51.100.0/24]")
            + Slice("web", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6")).State;
        Assert.That(state.SourceFilters.Single().Allowed, Is.Empty);
        Assert.That(DataPlane.Ruleset(state), Does.Contain("ip6 daddr 2001:db8::10/128 tcp dport 80 counter drop\n"));
    }

    [Test]
    public void Host_bits_are_masked_nested_ranges_merged_and_everything_of_a_family_means_no_filter()
    {
        var filter = Build(Ranged("web", "192.0.2.10", "[\"198.51.100.7/24\", 10.0.0.0/8, 10.1.0.0/16, \" 203.0.113.5 \"]")).State.SourceFilters.Single();
        Assert.That(filter.Allowed.Select(a => a.ToString()), Is.EqualTo(new[] { "10.0.0.0/8", "198.51.100.0/24", "203.0.113.5/32" }));
        Assert.That(Build(Ranged("web", "192.0.2.10", "[0.0.0.0/0, \"2001:db8::/32\"]")).State.SourceFilters, Is.Empty);
    }

    [Test]
    public void The_annotation_counts_when_the_spec_sets_none_as_for_kube_proxy()
    {
        var annotated = Service("web", address: "192.0.2.10").Replace(
            "annotations: {\"portable-lb.io/addresses\": \"192.0.2.10\"}",
            $"annotations: {{\"portable-lb.io/addresses\": \"192.0.2.10\", \"{SourceRanges.Annotation}\": \"198.51.100.0/24, 203.0.113.0/24\"}}");
        var filter = Build(annotated + Slice("web", Ready)).State.SourceFilters.Single();
        Assert.That(filter.Allowed.Select(a => a.ToString()), Is.EqualTo(new[] { "198.51.100.0/24", "203.0.113.0/24" }));
    }

    [Test]
    public void A_bad_range_rejects_its_Service_by_field_and_the_others_go_on()
    {
        var build = Build(Ranged("web", "192.0.2.10", "[198.51.100.0/24, 198.51.100.300/24]") + Service("other", address: "192.0.2.20") + Slice("other", Ready));
        var error = build.Errors.Single();
        Assert.That(error.ToString(), Does.Contain("default/web").And.Contain("spec.loadBalancerSourceRanges[1]").And.Contain("198.51.100.300/24"));
        Assert.That(build.State.VirtualServers.Select(v => v.Service.Name), Is.EqualTo(new[] { "other" }), "served wider than asked never: the Service is not served");
    }

    [Test]
    public void The_ruleset_drops_other_sources_before_IPVS_sees_them()
    {
        var ruleset = DataPlane.Ruleset(Build(Ranged("web", "192.0.2.10", "[198.51.100.0/24, 203.0.113.0/24]")).State);
        Assert.That(ruleset, Does.Contain("type filter hook input priority filter; policy accept;"));
        Assert.That(ruleset, Does.Contain("ip daddr 192.0.2.10/32 tcp dport 80 ip saddr != { 198.51.100.0/24, 203.0.113.0/24 } counter drop\n"));
        Assert.That(DataPlane.Ruleset(Build(Service("open", address: "192.0.2.20") + Slice("open", Ready)).State), Does.Not.Contain(" drop"));
    }

    [Test]
    public void A_prefix_address_is_filtered_whole()
    {
        var filter = Build(Ranged("thesis", "203.0.113.0/24", "[198.51.100.0/24]")).State.SourceFilters.Single();
        Assert.That(filter.Destination, Is.EqualTo(IPNetwork.Parse("203.0.113.0/24")));
    }
}
