using System.Net;
using PortableLb.Model;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Model;

public sealed class NodeRoutePlannerTests
{
    private static string Pod(string name, string node, string ip, bool ready = true, string app = "portable-lb", string? ip6 = null, bool terminating = false)
    {
        var ips = ip6 is null ? $"[{{ip: {ip}}}]" : $"[{{ip: {ip}}}, {{ip: \"{ip6}\"}}]";
        var deleted = terminating ? ", deletionTimestamp: \"2026-12-01T07:00:00Z\"" : "";
        return "apiVersion: v1\nkind: Pod\n"
            + $"metadata: {{name: {name}, namespace: default, labels: {{app.kubernetes.io/name: {app}}}{deleted}}}\n"
            + $"spec: {{nodeName: {node}}}\n"
            + $"status: {{podIP: {ip}, podIPs: {ips}, conditions: [{{type: Ready, status: \"{(ready ? "True" : "False")}\"}}]}}\n---\n";
    }

    private static IReadOnlyList<NodeRoute> Plan(string yaml, string node = "node-1", params string[] draining) =>
        NodeRoutePlanner.Plan(FromYaml(yaml), node, new NodeAddresses(IPAddress.Parse("192.0.2.1"), null, null, null), draining: draining.ToHashSet()).Routes;

    private static string[] Show(IReadOnlyList<NodeRoute> routes) =>
        routes.Select(r => $"{r.Destination} via {string.Join(",", r.Via)}" + (r.Draining.Count > 0 ? $" draining {string.Join(",", r.Draining)}" : "")).ToArray();

    [Test]
    public void Every_served_address_goes_to_the_ready_LB_pods_on_this_node_only()
    {
        var routes = Plan(Service("web", address: "198.51.100.10") + Service("shop", address: "203.0.113.0/24")
            + Pod("lb-a", "node-1", "10.244.1.5") + Pod("lb-b", "node-1", "10.244.1.6")
            + Pod("lb-c", "node-2", "10.244.2.5")
            + Pod("lb-d", "node-1", "10.244.1.7", ready: false)
            + Pod("nginx", "node-1", "10.244.1.8", app: "nginx"));
        Assert.That(Show(routes), Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.5,10.244.1.6", "203.0.113.0/24 via 10.244.1.5,10.244.1.6" }));
    }

    [Test]
    public void Without_an_LB_pod_on_the_node_there_is_no_route_and_an_unready_one_stands_in_only_when_it_is_the_last()
    {
        Assert.That(Plan(Service("web", address: "198.51.100.10") + Pod("lb-a", "node-2", "10.244.2.5")), Is.Empty);
        // Traffic the routers still send the node is better handed to its LB pod than looped back to the router.
        Assert.That(Show(Plan(Service("web", address: "198.51.100.10") + Pod("lb-a", "node-1", "10.244.1.5", ready: false))),
            Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.5" }));
        Assert.That(Show(Plan(Service("web", address: "198.51.100.10") + Pod("lb-a", "node-1", "10.244.1.5", ready: false) + Pod("lb-b", "node-1", "10.244.1.6"))),
            Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.6" }));
    }

    [Test]
    public void A_terminating_LB_pod_gives_way_to_a_ready_sibling_on_the_node_but_keeps_the_route_when_it_is_the_last()
    {
        var web = Service("web", address: "198.51.100.10");
        // A rolling update: the new pod is ready beside the old one, which is being deleted. New flows go to the new one.
        Assert.That(Show(Plan(web + Pod("lb-old", "node-1", "10.244.1.5", terminating: true) + Pod("lb-new", "node-1", "10.244.1.6"))),
            Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.6" }));
        // The last LB pod on the node: it serves through its grace period while the routers learn of its withdrawal.
        Assert.That(Show(Plan(web + Pod("lb-old", "node-1", "10.244.1.5", terminating: true) + Pod("lb-new", "node-1", "10.244.1.6", ready: false))),
            Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.5" }));
        // A ready pod, even a terminating one, goes before one that is not ready.
        Assert.That(Show(Plan(web + Pod("lb-old", "node-1", "10.244.1.5", terminating: true) + Pod("lb-broken", "node-1", "10.244.1.7", ready: false))),
            Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.5" }));
    }

    [Test]
    public void A_terminating_LB_pod_that_is_draining_stays_beside_its_ready_sibling_as_a_draining_next_hop()
    {
        var web = Service("web", address: "198.51.100.10");
        var rolling = web + Pod("lb-old", "node-1", "10.244.1.5", terminating: true) + Pod("lb-new", "node-1", "10.244.1.6");
        Assert.That(Show(Plan(rolling, "node-1", "default/lb-old")), Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.6 draining 10.244.1.5" }));
        // Its drain over (the caller no longer names it): it goes.
        Assert.That(Show(Plan(rolling, "node-1")), Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.6" }));
        // Not ready any more: nothing left to drain to it.
        Assert.That(Show(Plan(web + Pod("lb-old", "node-1", "10.244.1.5", ready: false, terminating: true) + Pod("lb-new", "node-1", "10.244.1.6"), "node-1", "default/lb-old")),
            Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.6" }));
        // The last one on the node: a next hop like before, not a draining one.
        Assert.That(Show(Plan(web + Pod("lb-old", "node-1", "10.244.1.5", terminating: true), "node-1", "default/lb-old")), Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.5" }));
    }

    [Test]
    public void Every_LB_pod_on_the_node_is_pinned_whatever_its_state_and_no_other_pod()
    {
        var snapshot = FromYaml(Pod("lb-b", "node-1", "10.244.1.6", ready: false) + Pod("lb-a", "node-1", "10.244.1.5", ip6: "fd00::5", terminating: true)
            + Pod("lb-c", "node-2", "10.244.2.5") + Pod("nginx", "node-1", "10.244.1.8", app: "nginx"));
        Assert.That(NodeRoutePlanner.LbPodAddresses(snapshot, "node-1").Select(a => a.ToString()), Is.EqualTo(new[] { "10.244.1.5", "10.244.1.6", "fd00::5" }));
    }

    [Test]
    public void Each_family_goes_to_the_pods_addresses_of_that_family()
    {
        var routes = Plan(Service("web", annotation: "198.51.100.10,2001:db8::10") + Pod("lb-a", "node-1", "10.244.1.5", ip6: "fd00:1::5"));
        Assert.That(Show(routes), Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.5", "2001:db8::10/128 via fd00:1::5" }));
    }

    [Test]
    public void An_address_no_Service_may_claim_gets_no_route_on_the_node_either()
    {
        var result = NodeRoutePlanner.Plan(FromYaml(Service("greedy", address: "192.0.2.0/24") + Service("web", address: "198.51.100.10") + Pod("lb-a", "node-1", "10.244.1.5")),
            "node-1", new NodeAddresses(IPAddress.Parse("192.0.2.1"), null, null, null));
        Assert.That(Show(result.Routes), Is.EqualTo(new[] { "198.51.100.10/32 via 10.244.1.5" }));
        Assert.That(result.Errors.Single().ToString(), Does.Contain("192.0.2.0/24 overlaps this node's address (--node-ip), 192.0.2.1"));
    }

    [Test]
    public void A_Service_PortableLb_does_not_serve_gets_no_route()
    {
        var other = Service("other", address: "198.51.100.20").Replace("loadBalancerClass: portable-lb.io/ipvs", "loadBalancerClass: example.com/other");
        Assert.That(Plan(other + Pod("lb-a", "node-1", "10.244.1.5")), Is.Empty);
    }
}
