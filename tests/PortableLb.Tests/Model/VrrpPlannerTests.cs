using System.Net;
using PortableLb.Model;
using PortableLb.Tuning;

namespace PortableLb.Tests.Model;

public class VrrpPlannerTests
{
    private static readonly TuningSettings L2 = Cluster.Tune("mode: l2\nl2: {interface: eth9, advertInterval: 0.5, preemptDelay: 20}");

    /// <summary>An LB pod in the host network: its pod address is its node's.</summary>
    private static string LbPod(string name, string node, string address, bool ready = true, bool terminating = false) => $$"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{name}}
          namespace: portable-lb
          labels: {app.kubernetes.io/name: portable-lb}
          {{(terminating ? "deletionTimestamp: \"2026-01-01T00:00:00Z\"" : "")}}
        spec: {nodeName: {{node}}}
        status:
          podIP: {{address}}
          conditions: [{type: Ready, status: "{{(ready ? "True" : "False")}}"}]
        ---

        """;

    private static NodeAddresses On(string address) => new(IPAddress.Parse(address), null, IPAddress.Parse(address), null);

    private static string ThreeServices() =>
        Cluster.Service("a", "192.0.2.10") + Cluster.Slice("a", "[{addresses: [10.244.1.2]}]") +
        Cluster.Service("b", "192.0.2.11") + Cluster.Slice("b", "[{addresses: [10.244.1.3]}]") +
        Cluster.Service("c", "192.0.2.12") + Cluster.Slice("c", "[{addresses: [10.244.1.4]}]");

    private static readonly string ThreePods =
        LbPod("lb-a", "node-a", "172.18.0.2") + LbPod("lb-b", "node-b", "172.18.0.3") + LbPod("lb-c", "node-c", "172.18.0.4");

    [Test]
    public void Every_pod_renders_the_same_masters_and_router_ids_and_its_own_priorities()
    {
        var views = new[] { "172.18.0.2", "172.18.0.3", "172.18.0.4" }
            .Select(self => Cluster.Build(ThreeServices() + ThreePods, L2, On(self)).State.Vrrp!)
            .ToList();

        foreach (var view in views)
        {
            Assert.That(view.Interface, Is.EqualTo("eth9"));
            Assert.That(view.AdvertIntervalCentiseconds, Is.EqualTo(50));
            Assert.That(view.Instances.Select(i => (i.Vip, i.RouterId, i.Master)), Is.EqualTo(views[0].Instances.Select(i => (i.Vip, i.RouterId, i.Master))));
        }
        // Three VIPs on three pods: one master each, and each pod's priority is 250 exactly where it is master.
        Assert.That(views[0].Instances.Select(i => i.Master), Is.Unique);
        var names = new[] { "lb-a", "lb-b", "lb-c" };
        for (var pod = 0; pod < 3; pod++)
        {
            foreach (var instance in views[pod].Instances)
            {
                Assert.That(instance.Priority == VrrpPlanner.MasterPriority, Is.EqualTo(instance.Master == names[pod]), $"{names[pod]} for {instance.Vip}");
                Assert.That(instance.Source, Is.EqualTo(On(new[] { "172.18.0.2", "172.18.0.3", "172.18.0.4" }[pod]).PodIPv4));
                Assert.That(instance.Peers, Has.Count.EqualTo(2).And.No.EqualTo(instance.Source));
            }
            Assert.That(views[pod].Instances.Select(i => i.Priority), Is.Unique, "each VIP ranks this pod differently");
        }
    }

    [Test]
    public void Priorities_fall_along_the_order_and_stay_in_VRRPs_range()
    {
        var priorities = Enumerable.Range(0, 300).Select(VrrpPlanner.Priority).ToList();
        Assert.That(priorities.Take(4), Is.EqualTo(new[] { 250, 200, 150, 100 }));
        Assert.That(priorities.Take(100), Is.Ordered.Descending.And.Unique);
        Assert.That(priorities, Is.All.InRange(1, 254));
    }

    [Test]
    public void L2_mode_leaves_exabgp_idle_and_keeps_the_virtual_servers()
    {
        var result = Cluster.Build(ThreeServices() + ThreePods, L2, On("172.18.0.2"));

        Assert.That(result.State.Bgp, Is.Null);
        Assert.That(result.State.Announcements, Is.Empty);
        Assert.That(result.State.VirtualServers, Has.Count.EqualTo(3));
        Assert.That(Cluster.Build(ThreeServices() + ThreePods, Cluster.WithPeer, On("172.18.0.2")).State.Vrrp, Is.Null, "bgp mode renders no VRRP");
    }

    [Test]
    public void Pods_that_are_not_ready_or_are_terminating_are_not_members_but_this_pod_always_is()
    {
        var pods = LbPod("lb-a", "node-a", "172.18.0.2", ready: false) + LbPod("lb-b", "node-b", "172.18.0.3", terminating: true) + LbPod("lb-c", "node-c", "172.18.0.4");

        var fromA = Cluster.Build(ThreeServices() + pods, L2, On("172.18.0.2")).State.Vrrp!;
        Assert.That(fromA.Instances.Select(i => i.Master).Distinct(), Is.EquivalentTo(new[] { "lb-a", "lb-c" }));
        Assert.That(fromA.Instances.SelectMany(i => i.Peers).Distinct(), Is.EqualTo(new[] { IPAddress.Parse("172.18.0.4") }));

        var fromC = Cluster.Build(ThreeServices() + pods, L2, On("172.18.0.4")).State.Vrrp!;
        Assert.That(fromC.Instances.Select(i => i.Master), Is.All.EqualTo("lb-c"), "lb-c sees neither an unready nor a terminating pod");
        Assert.That(fromC.Instances, Is.All.Matches<VrrpInstance>(i => i.Peers.Count == 0));
    }

    [Test]
    public void A_pod_missing_from_the_list_holds_nothing_and_says_why()
    {
        var result = Cluster.Build(ThreeServices() + ThreePods, L2, On("172.18.0.9"));

        Assert.That(result.State.Vrrp!.Instances, Is.Empty);
        Assert.That(result.State.VirtualServers, Has.Count.EqualTo(3), "it still serves what reaches it");
        Assert.That(result.Warnings, Has.One.Contains("this pod (172.18.0.9) is not among the LB pods listed"));
    }

    [Test]
    public void A_prefix_is_refused_in_L2_mode_by_its_field_and_the_other_Services_go_on()
    {
        var yaml = ThreeServices() + Cluster.Service("wide", "192.0.2.64/28") + Cluster.Slice("wide", "[{addresses: [10.244.1.9]}]") + ThreePods;

        var result = Cluster.Build(yaml, L2, On("172.18.0.2"));

        Assert.That(result.Errors.Select(e => $"{e.Object.Name} {e.Field}: {e.Message}"), Has.One.StartsWith("wide metadata.annotations[\"portable-lb.io/addresses\"]")
            .And.One.Contains("192.0.2.64/28 is a prefix; L2 mode holds single addresses"));
        Assert.That(result.State.Vrrp!.Instances, Has.Count.EqualTo(3));
    }

    [Test]
    public void VIPs_past_the_router_id_range_are_refused_by_name_and_the_rest_keep_their_ids()
    {
        var narrow = Cluster.Tune("mode: l2\nl2: {interface: eth9, firstRouterId: 7, lastRouterId: 8}");

        var result = Cluster.Build(ThreeServices() + ThreePods, narrow, On("172.18.0.2"));

        Assert.That(result.State.Vrrp!.Instances.Select(i => i.RouterId), Is.EquivalentTo(new[] { 7, 8 }));
        Assert.That(result.Errors, Has.One.Matches<ObjectError>(e => e.Object.Name == "c" && e.Message.Contains("192.0.2.12 gets no VRRP router id: all 2 ids from l2.firstRouterId 7 to l2.lastRouterId 8 are taken")));
    }

    [Test]
    public void Router_ids_do_not_move_when_an_unrelated_VIP_comes()
    {
        L2Address At(string vip) => new(IPAddress.Parse(vip), new ServiceName("d", vip), new PortableLb.Kubernetes.ObjectKey("Service", "d", vip), "f");
        var before = VrrpPlanner.RouterIds([At("192.0.2.10"), At("192.0.2.11")], L2Settings.Default, []);
        var after = VrrpPlanner.RouterIds([At("192.0.2.10"), At("192.0.2.11"), At("198.51.100.7")], L2Settings.Default, []);

        Assert.That(after[IPAddress.Parse("192.0.2.10")], Is.EqualTo(before[IPAddress.Parse("192.0.2.10")]));
        Assert.That(after[IPAddress.Parse("192.0.2.11")], Is.EqualTo(before[IPAddress.Parse("192.0.2.11")]));
        Assert.That(after.Values, Is.Unique.And.All.InRange(1, 255));
    }

    [Test]
    public void Without_an_interface_named_or_found_the_tuning_is_refused()
    {
        var result = Cluster.Build(ThreeServices() + ThreePods, Cluster.Tune("mode: l2"), On("172.18.0.2"));

        Assert.That(result.ConfigErrors.Select(e => $"{e.Path}: {e.Message}"), Has.One.StartsWith("l2.interface: is empty, and the interface holding this pod's address is unknown"));
        Assert.That(Cluster.Build(ThreeServices() + ThreePods, Cluster.Tune("mode: l2"), On("172.18.0.2") with { Interface = "ens3" }).State.Vrrp!.Interface, Is.EqualTo("ens3"));
    }
}
