using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Tuning;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Model;

public sealed class ServiceStatusPlannerTests
{
    private const string TwoReady = "[{addresses: [10.0.0.1], conditions: {ready: true}}, {addresses: [10.0.0.2], conditions: {ready: true}}]";

    private static IReadOnlyList<StatusChange> Plan(string yaml, IngressMode mode = IngressMode.Vip, IReadOnlyCollection<ServiceName>? only = null)
    {
        var snapshot = FromYaml(yaml);
        var tuning = WithPeer with { IpMode = mode };
        return ServiceStatusPlanner.Plan(snapshot, DesiredStateBuilder.Build(snapshot, tuning, Node, only), tuning, Node, only).Changes;
    }

    /// <summary>The Service's YAML with a status showing these ingress entries.</summary>
    private static string WithStatus(string service, params string[] ingress) =>
        service.Replace("---\n", $"status: {{loadBalancer: {{ingress: [{string.Join(", ", ingress)}]}}}}\n---\n", StringComparison.Ordinal);

    private static string Change(StatusChange change) =>
        $"{change.Service}: {string.Join(" ", change.Ingress.Select(i => $"{i.Ip}/{i.IpMode}"))}";

    [Test]
    public void A_served_Service_shows_each_single_address_but_no_prefix()
    {
        var changes = Plan(Service("web", annotation: "192.0.2.10, 2001:db8::10, 198.51.100.0/28") + Slice("web", TwoReady));
        Assert.That(changes.Select(Change), Is.EqualTo(new[] { "default/web: 192.0.2.10/VIP 2001:db8::10/VIP" }));
        Assert.That(changes.Single().ResourceVersion, Is.Null, "planned against the snapshot's version (none in a manifest)");
    }

    [Test]
    public void The_tuning_can_show_addresses_as_Proxy()
    {
        var changes = Plan(Service("web") + Slice("web", TwoReady), IngressMode.Proxy);
        Assert.That(changes.Select(Change), Is.EqualTo(new[] { "default/web: 192.0.2.10/Proxy" }));
    }

    [Test]
    public void A_status_that_already_shows_the_addresses_is_not_written_again()
    {
        var yaml = WithStatus(Service("web", annotation: "192.0.2.10, 192.0.2.11"), "{ip: 192.0.2.10, ipMode: VIP}", "{ip: 192.0.2.11, ipMode: VIP}") + Slice("web", TwoReady);
        Assert.That(Plan(yaml), Is.Empty);
        Assert.That(Plan(yaml, IngressMode.Proxy).Select(Change), Is.EqualTo(new[] { "default/web: 192.0.2.10/Proxy 192.0.2.11/Proxy" }), "a changed ipMode is a change");
    }

    [Test]
    public void A_Service_that_stops_being_served_is_cleared_and_one_of_another_class_is_never_touched()
    {
        const string shown = "{ip: 192.0.2.10, ipMode: VIP}";
        var yaml =
            WithStatus(Service("now-clusterip", extraSpec: "  type: ClusterIP").Replace("  type: LoadBalancer\n", "", StringComparison.Ordinal), shown)
            + WithStatus(Service("no-address", annotation: ""), shown)
            + WithStatus(Service("theirs").Replace("portable-lb.io/ipvs", "example.com/other", StringComparison.Ordinal), shown)
            + Service("ours-and-empty", annotation: "");
        Assert.That(Plan(yaml).Select(Change), Is.EquivalentTo(new[] { "default/now-clusterip: ", "default/no-address: " }));
    }

    [Test]
    public void The_newer_of_two_Services_on_one_address_and_port_shows_nothing()
    {
        var yaml = Service("old", created: "2026-01-01T00:00:00Z") + Slice("old", TwoReady)
            + Service("new", created: "2026-02-01T00:00:00Z") + Slice("new", TwoReady);
        Assert.That(Plan(yaml).Select(Change), Is.EqualTo(new[] { "default/old: 192.0.2.10/VIP" }));
    }

    [Test]
    public void Services_outside_the_service_flags_are_left_alone()
    {
        var yaml = Service("web") + Slice("web", TwoReady) + Service("other", address: "192.0.2.20") + Slice("other", TwoReady);
        Assert.That(Plan(yaml, only: [new ServiceName("default", "other")]).Select(Change), Is.EqualTo(new[] { "default/other: 192.0.2.20/VIP" }));
    }

    [Test]
    public void The_merge_patch_replaces_the_ingress_list_or_removes_it()
    {
        Assert.That(PortableLb.Diagnostics.ServiceStatusPublisher.MergePatch(new[] { new IngressEntry("192.0.2.10", "VIP") }.ToValueList()),
            Is.EqualTo("""{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10","ipMode":"VIP"}]}}}"""));
        Assert.That(PortableLb.Diagnostics.ServiceStatusPublisher.MergePatch(ValueList<IngressEntry>.Empty), Is.EqualTo("""{"status":{"loadBalancer":{"ingress":null}}}"""));
    }
}
