using System.Net;
using PortableLb.Model;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Model;

public sealed class NodeRoutePlannerTests
{
    private static string Pod(string name, string node, string ip, bool ready = true, string app = "portable-lb", string? ip6 = null)
    {
        var ips = ip6 is null ? $"[{{ip: {ip}}}]" : $"[{{ip: {ip}}}, {{ip: \"{ip6}\"}}]";
        return "apiVersion: v1\nkind: Pod\n"
            + $"metadata: {{name: {name}, namespace: default, labels: {{app.kubernetes.io/name: {app}}}}}\n"
            + $"spec: {{nodeName: {node}}}\n"
            + $"status: {{podIP: {ip}, podIPs: {ips}, conditions: [{{type: Ready, status: \"{(ready ? "True" : "False")}\"}}]}}\n---\n";
    }

    private static IReadOnlyList<NodeRoute> Plan(string yaml, string node = "node-1") =>
        NodeRoutePlanner.Plan(FromYaml(yaml), node, new NodeAddresses(IPAddress.Parse("192.0.2.1"), null, null, null)).Routes;

    private static string[] Show(IReadOnlyList<NodeRoute> routes) =>
        routes.Select(r => $"{r.Destination} via {string.Join(",", r.Via)}").ToArray();

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
    public void Without_a_ready_LB_pod_on_the_node_there_is_no_route()
    {
        Assert.That(Plan(Service("web", address: "198.51.100.10") + Pod("lb-a", "node-1", "10.244.1.5", ready: false)), Is.Empty);
        Assert.That(Plan(Service("web", address: "198.51.100.10") + Pod("lb-a", "node-2", "10.244.2.5")), Is.Empty);
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
