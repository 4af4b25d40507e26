using System.Net;
using PortableLb.Model;
using PortableLb.Tuning;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Model;

public sealed class DesiredStateBuilderTests
{
    private const string TwoReady = "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2]}]";

    private static VirtualServer Only(BuildResult result)
    {
        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.State.VirtualServers, Has.Count.EqualTo(1));
        return result.State.VirtualServers[0];
    }

    private static string Weights(VirtualServer vs) => string.Join(" ", vs.RealServers.Select(r => $"{r.Address}={r.Weight}"));

    [Test]
    public void Only_LoadBalancer_Services_of_our_class_are_served()
    {
        var result = Build(
            Service("ours") + Slice("ours", TwoReady) +
            """
            apiVersion: v1
            kind: Service
            metadata: {name: other-class, namespace: default}
            spec: {type: LoadBalancer, loadBalancerClass: example.com/other, loadBalancerIP: 192.0.2.20, ports: [{name: http, port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: no-class, namespace: default}
            spec: {type: LoadBalancer, loadBalancerIP: 192.0.2.21, ports: [{name: http, port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: cluster-ip, namespace: default}
            spec: {loadBalancerIP: 192.0.2.22, ports: [{name: http, port: 80}]}
            """ + "\n---\n" + Slice("other-class", TwoReady) + Slice("no-class", TwoReady) + Slice("cluster-ip", TwoReady));

        Assert.That(result.Services.Select(s => s.Name.ToString()), Is.EqualTo(new[] { "default/ours" }));
        Assert.That(result.Errors, Is.Empty);
    }

    [Test]
    public void The_annotation_wins_over_loadBalancerIP_and_externalIPs()
    {
        var vs = Only(Build(Service("web", address: "192.0.2.30", extraSpec: "  loadBalancerIP: 192.0.2.31\n  externalIPs: [192.0.2.32]") + Slice("web", TwoReady)));
        Assert.That(((VirtualAddress.Socket)vs.Address).Address, Is.EqualTo(IPAddress.Parse("192.0.2.30")));
    }

    [Test]
    public void LoadBalancerIP_is_used_when_there_is_no_annotation_and_externalIPs_after_it()
    {
        const string yaml = """
            apiVersion: v1
            kind: Service
            metadata: {name: a, namespace: default}
            spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 192.0.2.40, externalIPs: [192.0.2.41], ports: [{name: http, port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: b, namespace: default}
            spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, externalIPs: [192.0.2.42, 192.0.2.43], ports: [{name: http, port: 80}]}
            ---

            """;
        var result = Build(yaml + Slice("a", TwoReady) + Slice("b", TwoReady));
        Assert.That(result.Services.Select(s => string.Join(",", s.Addresses)), Is.EqualTo(new[] { "192.0.2.40", "192.0.2.42,192.0.2.43" }));
    }

    [Test]
    public void A_single_IP_gives_one_virtual_server_per_port_and_protocol()
    {
        var result = Build(Service("dns", ports: "[{name: udp, port: 53, protocol: UDP}, {name: tcp, port: 53, protocol: TCP}, {name: sctp, port: 5060, protocol: SCTP}]")
            + Slice("dns", TwoReady, ports: "[{name: udp, port: 5353, protocol: UDP}, {name: tcp, port: 5353}, {name: sctp, port: 5060, protocol: SCTP}]"));

        Assert.That(result.State.VirtualServers.Select(v => v.Address), Is.EqualTo(new VirtualAddress[]
        {
            new VirtualAddress.Socket(IPAddress.Parse("192.0.2.10"), 53, Protocol.Udp),
            new VirtualAddress.Socket(IPAddress.Parse("192.0.2.10"), 53, Protocol.Tcp),
            new VirtualAddress.Socket(IPAddress.Parse("192.0.2.10"), 5060, Protocol.Sctp),
        }));
        Assert.That(result.State.VirtualServers.Select(v => v.RealServers[0].Check.Kind), Is.EqualTo(new[] { CheckKind.Udp, CheckKind.Tcp, CheckKind.None }));
        Assert.That(result.Warnings, Has.One.Contains("no SCTP checker"));
    }

    [Test]
    public void A_prefix_gives_one_fwmark_virtual_server_per_port_and_one_route()
    {
        var result = Build(Service("web", address: "10.1.1.0/24", ports: "[{name: http, port: 80}, {name: https, port: 443}]")
            + Slice("web", TwoReady, ports: "[{name: http, port: 8080}, {name: https, port: 8443}]"));

        var marks = result.State.VirtualServers.Select(v => (VirtualAddress.Fwmark)v.Address).ToList();
        Assert.That(marks.Select(m => (m.Prefix.ToString(), m.Port)), Is.EqualTo(new[] { ("10.1.1.0/24", 80), ("10.1.1.0/24", 443) }));
        Assert.That(marks.Select(m => m.Mark).Distinct().Count(), Is.EqualTo(2));
        Assert.That(marks.All(m => m.Mark is >= 1 and <= FwmarkAllocator.MaxMark));
        Assert.That(result.State.Announcements.Select(a => a.Prefix.ToString()), Is.EqualTo(new[] { "10.1.1.0/24" }));
    }

    [Test]
    public void A_fwmark_does_not_change_when_other_Services_come_and_go()
    {
        var web = Service("web", address: "10.1.1.0/24") + Slice("web", TwoReady, name: "web-1");
        var alone = Build(web).State.PacketMarks.Single();
        var crowded = Build(Service("aaa", address: "10.2.0.0/24") + Slice("aaa", TwoReady) + web + Service("zzz", address: "10.3.0.0/24") + Slice("zzz", TwoReady))
            .State.PacketMarks.Single(m => m.Prefix.ToString() == "10.1.1.0/24");
        Assert.That(crowded.Mark, Is.EqualTo(alone.Mark));
    }

    [Test]
    public void The_fwmark_is_derived_as_templates_README_documents() =>
        Assert.That(FwmarkAllocator.Preferred("default/web|10.1.1.0/24|TCP|80"), Is.EqualTo(1_755_917_144u));

    [Test]
    public void Colliding_fwmarks_are_resolved_deterministically_in_key_order()
    {
        var marks = FwmarkAllocator.Assign(["b", "a", "a"]);
        var again = FwmarkAllocator.Assign(["a", "b"]);
        Assert.That(marks, Is.EqualTo(again));
        Assert.That(marks.Values.Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public void Endpoints_from_several_slices_are_aggregated_and_deduplicated()
    {
        var vs = Only(Build(Service("web")
            + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2]}]")
            + Slice("web", "[{addresses: [10.244.1.2]}, {addresses: [10.244.1.3]}]")));
        Assert.That(vs.RealServers.Select(r => r.Address.ToString()), Is.EqualTo(new[] { "10.244.1.1", "10.244.1.2", "10.244.1.3" }));
    }

    [Test]
    public void A_duplicate_endpoint_counts_as_ready_if_any_copy_is_ready()
    {
        var vs = Only(Build(Service("web")
            + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2], conditions: {ready: false, serving: true, terminating: true}}]")
            + Slice("web", "[{addresses: [10.244.1.2], conditions: {ready: true}}]")));
        Assert.That(Weights(vs), Is.EqualTo("10.244.1.1=1 10.244.1.2=1"));
    }

    [Test]
    public void Slices_of_another_Service_or_namespace_are_ignored()
    {
        var vs = Only(Build(Service("web") + Slice("web", TwoReady) + Slice("api", "[{addresses: [10.244.9.9]}]") + Slice("web", "[{addresses: [10.244.8.8]}]", ns: "other")));
        Assert.That(vs.RealServers, Has.Count.EqualTo(2));
    }

    [Test]
    public void Only_slices_of_the_virtual_addresses_family_are_used()
    {
        var result = Build(Service("web", annotation: "192.0.2.10,2001:db8::10")
            + Slice("web", TwoReady)
            + Slice("web", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6")
            + Slice("web", "[{addresses: [web.example.com]}]", addressType: "FQDN"));
        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.State.VirtualServers.Select(v => string.Join(",", v.RealServers.Select(r => r.Address))),
            Is.EqualTo(new[] { "10.244.1.1,10.244.1.2", "fd00::1" }));
    }

    [Test]
    public void A_Service_port_maps_to_the_slice_port_with_the_same_name()
    {
        var result = Build(Service("web", ports: "[{name: http, port: 80}, {name: https, port: 443}]")
            + Slice("web", TwoReady, ports: "[{name: https, port: 9443}, {name: http, port: 9080}, {name: metrics, port: 9100}]"));
        Assert.That(result.State.VirtualServers.Select(v => (((VirtualAddress.Socket)v.Address).Port, v.RealServers[0].Port)),
            Is.EqualTo(new[] { (80, 9080), (443, 9443) }));
    }

    [Test]
    public void A_slice_port_of_another_protocol_does_not_match()
    {
        var result = Build(Service("web", ports: "[{name: http, port: 80}]") + Slice("web", TwoReady, ports: "[{name: http, port: 8080, protocol: UDP}]"));
        Assert.That(result.State.VirtualServers, Is.Empty);
    }

    [Test]
    public void A_single_unnamed_slice_port_matches_a_single_port_Service_even_if_that_port_is_named()
    {
        var vs = Only(Build(Service("web", ports: "[{name: http, port: 80}]") + Slice("web", TwoReady, ports: "[{port: 8080}]")));
        Assert.That(vs.RealServers[0].Port, Is.EqualTo(8080));
    }

    [Test]
    public void An_unnamed_slice_port_does_not_match_a_multi_port_Service()
    {
        var result = Build(Service("web", ports: "[{name: http, port: 80}, {name: https, port: 443}]") + Slice("web", TwoReady, ports: "[{port: 8080}]"));
        Assert.That(result.State.VirtualServers, Is.Empty);
    }

    [Test]
    public void A_missing_ready_condition_counts_as_ready()
    {
        var vs = Only(Build(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2], conditions: {}}]")));
        Assert.That(vs.RealServers.Select(r => r.State), Is.All.EqualTo(RealServerState.Ready));
        Assert.That(Weights(vs), Is.EqualTo("10.244.1.1=1 10.244.1.2=1"));
    }

    [Test]
    public void Ready_endpoints_get_the_configured_weight()
    {
        var vs = Only(Build(Service("web") + Slice("web", TwoReady), Tune("virtualServer: {weight: 7}\nbgp: {peers: [192.0.2.254]}")));
        Assert.That(Weights(vs), Is.EqualTo("10.244.1.1=7 10.244.1.2=7"));
    }

    [Test]
    public void Terminating_endpoints_that_still_serve_drain_at_weight_zero()
    {
        var vs = Only(Build(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2], conditions: {ready: false, serving: true, terminating: true}}]")));
        Assert.That(Weights(vs), Is.EqualTo("10.244.1.1=1 10.244.1.2=0"));
        Assert.That(vs.RealServers[1].State, Is.EqualTo(RealServerState.Draining));
    }

    [Test]
    public void Terminating_endpoints_keep_their_weight_when_nothing_is_ready()
    {
        var vs = Only(Build(Service("web") + Slice("web", "[{addresses: [10.244.1.1], conditions: {ready: false, serving: true, terminating: true}}, {addresses: [10.244.1.2], conditions: {ready: false, serving: true, terminating: true}}]")));
        Assert.That(Weights(vs), Is.EqualTo("10.244.1.1=1 10.244.1.2=1"));
        Assert.That(vs.RealServers.Select(r => r.State), Is.All.EqualTo(RealServerState.TerminatingFallback));
    }

    [Test]
    public void Endpoints_that_neither_are_ready_nor_serve_are_left_out()
    {
        var vs = Only(Build(Service("web") + Slice("web",
            "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2], conditions: {ready: false, serving: false, terminating: true}}, {addresses: [10.244.1.3], conditions: {ready: false}}]")));
        Assert.That(Weights(vs), Is.EqualTo("10.244.1.1=1"));
    }

    [Test]
    public void A_virtual_server_without_real_servers_is_left_out_and_its_address_is_not_announced()
    {
        var result = Build(Service("web") + Slice("web", "[{addresses: [10.244.1.1], conditions: {ready: false}}]"));
        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.State.VirtualServers, Is.Empty);
        Assert.That(result.State.Announcements, Is.Empty);
        Assert.That(result.State.Bgp!.Neighbors, Has.Count.EqualTo(1), "the BGP session itself stays");
        Assert.That(result.Services.Single().Withdrawn, Is.EqualTo(new[] { "192.0.2.10" }));
    }

    [Test]
    public void Announce_always_keeps_the_route_when_nothing_serves()
    {
        var result = Build(Service("web"), Tune("bgp: {peers: [192.0.2.254], announce: always}"));
        Assert.That(result.State.VirtualServers, Is.Empty);
        Assert.That(result.State.Announcements.Select(a => a.Prefix.ToString()), Is.EqualTo(new[] { "192.0.2.10/32" }));
    }

    [Test]
    public void ClientIP_affinity_sets_persistence_from_the_Service_or_to_three_hours()
    {
        var sticky = Only(Build(Service("web", extraSpec: "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}") + Slice("web", TwoReady)));
        var defaulted = Only(Build(Service("web", extraSpec: "  sessionAffinity: ClientIP") + Slice("web", TwoReady)));
        var none = Only(Build(Service("web", extraSpec: "  sessionAffinity: None") + Slice("web", TwoReady)));
        Assert.That((sticky.PersistenceTimeout, defaulted.PersistenceTimeout, none.PersistenceTimeout), Is.EqualTo((600, 10_800, 0)));
    }

    [Test]
    public void An_address_gets_a_host_route_and_a_prefix_its_own_route()
    {
        var result = Build(Service("web", annotation: "192.0.2.10,10.1.1.0/24,2001:db8::10") + Slice("web", TwoReady) + Slice("web", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6"));
        Assert.That(result.State.Announcements.Select(a => $"{a.Prefix} via {a.NextHop}"),
            Is.EqualTo(new[] { "192.0.2.10/32 via 192.0.2.1", "10.1.1.0/24 via 192.0.2.1", "2001:db8::10/128 via 2001:db8::1" }));
    }

    [TestCase("node", "192.0.2.1")]
    [TestCase("pod", "10.244.0.10")]
    [TestCase("198.51.100.7", "198.51.100.7")]
    public void The_next_hop_follows_the_tuning(string choice, string expected)
    {
        var result = Build(Service("web") + Slice("web", TwoReady), Tune($"bgp: {{peers: [192.0.2.254], nextHop: \"{choice}\"}}"));
        Assert.That(result.State.Announcements.Single().NextHop.ToString(), Is.EqualTo(expected));
    }

    [Test]
    public void An_IPv6_address_without_an_IPv6_next_hop_rejects_that_Service_only()
    {
        var node = new NodeAddresses(IPAddress.Parse("192.0.2.1"), null, IPAddress.Parse("10.244.0.10"), null);
        var result = Build(Service("v6", address: "2001:db8::10") + Slice("v6", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6") + Service("v4", address: "192.0.2.11") + Slice("v4", TwoReady), node: node);
        Assert.That(result.Errors.Single().ToString(), Does.StartWith("Service default/v6: metadata.annotations[\"portable-lb.io/addresses\"]: 2001:db8::10 needs an IPv6 next-hop"));
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "v4" }));
    }

    [Test]
    public void BGP_is_off_without_peers_and_then_no_next_hop_is_needed()
    {
        var result = Build(Service("web", address: "2001:db8::10") + Slice("web", "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6"), TuningSettings.Default, NodeAddresses.None);
        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.State.Bgp, Is.Null);
        Assert.That(result.State.Announcements, Is.Empty);
        Assert.That(result.State.VirtualServers, Has.Count.EqualTo(1));
    }

    [Test]
    public void Router_id_and_local_address_default_to_the_pod_IP_of_the_peers_family()
    {
        var result = Build(Service("web") + Slice("web", TwoReady), Tune("bgp: {peers: [192.0.2.254, \"2001:db8::254\"]}"));
        Assert.That(result.State.Bgp!.Neighbors.Select(n => $"{n.Peer} id {n.RouterId} from {n.LocalAddress}"),
            Is.EqualTo(new[] { "192.0.2.254 id 10.244.0.10 from 10.244.0.10", "2001:db8::254 id 10.244.0.10 from fd00::10" }));
    }

    [Test]
    public void BGP_without_a_router_id_to_default_to_is_a_config_error()
    {
        var result = Build(Service("web") + Slice("web", TwoReady), node: NodeAddresses.None);
        Assert.That(result.ConfigErrors.Select(e => e.Path), Is.EqualTo(new[] { "bgp.routerId" }));
        Assert.That(result.State, Is.EqualTo(DesiredState.Empty));
    }

    [Test]
    public void One_bad_Service_does_not_stop_the_others()
    {
        var result = Build(Service("bad", address: "not-an-ip") + Slice("bad", TwoReady) + Service("good", address: "192.0.2.11") + Slice("good", TwoReady));
        Assert.That(result.Errors.Select(e => e.ToString()), Is.EqualTo(new[]
        {
            "Service default/bad: metadata.annotations[\"portable-lb.io/addresses\"]: \"not-an-ip\" is not an IPv4 or IPv6 address or prefix",
        }));
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "good" }));
        Assert.That(result.State.VirtualServers, Has.Count.EqualTo(1));
    }

    [Test]
    public void A_bad_endpoint_address_is_reported_with_its_slice_and_field()
    {
        var result = Build(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [\"10.244.1.2\\n}\"]}]", name: "web-x"));
        Assert.That(result.Errors.Single().ToString(), Is.EqualTo("EndpointSlice default/web-x: endpoints[1].addresses[0]: \"10.244.1.2\\u000a}\" is not an IPv4 address; the endpoint is skipped"));
        Assert.That(result.State.VirtualServers.Single().RealServers.Select(r => r.Address.ToString()), Is.EqualTo(new[] { "10.244.1.1" }));
    }

    // Surrounding white space is trimmed (only the parsed address is ever rendered); anything more is an error.
    [TestCase("192.0.2.10\n}")]
    [TestCase("192.0.2.10 80")]
    [TestCase("192.0.2.10/32\n}")]
    [TestCase("2001:db8::1\nvirtual_server")]
    [TestCase("192.0.2.10;")]
    public void An_address_with_anything_after_it_is_rejected(string address)
    {
        var result = Build(Service("web", annotation: address.Replace("\n", "\\n")) + Slice("web", TwoReady));
        Assert.That(result.State.VirtualServers, Is.Empty);
        Assert.That(result.Errors.Single().Field, Is.EqualTo("metadata.annotations[\"portable-lb.io/addresses\"]"));
    }

    [Test]
    public void The_older_Service_keeps_an_overlapping_address_whatever_the_names()
    {
        // a-evil sorts first by name and is newer: it must not take web's address over.
        var result = Build(Service("web", address: "198.51.100.10", created: "2026-01-01T00:00:00Z") + Slice("web", TwoReady)
            + Service("a-evil", address: "198.51.100.0/24", created: "2026-03-01T00:00:00Z") + Slice("a-evil", TwoReady));
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "web" }));
        Assert.That(result.Errors.Single().ToString(), Does.StartWith("Service default/a-evil: spec.ports: 198.51.100.0/24 TCP/80 overlaps 198.51.100.10, already served for Service default/web"));
    }

    [Test]
    public void Between_Services_of_the_same_age_the_uid_decides_and_the_output_stays_in_name_order()
    {
        var result = Build(Service("b", address: "198.51.100.10", uid: "1111") + Slice("b", TwoReady)
            + Service("a", address: "198.51.100.10", uid: "2222") + Slice("a", TwoReady)
            + Service("c", address: "198.51.100.20", uid: "0000") + Slice("c", TwoReady));
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "b", "c" }));
        Assert.That(result.Errors.Single().Object.Name, Is.EqualTo("a"));
    }

    // Each of these would become a local route in the LB pod's own namespace.
    [TestCase("10.0.0.0/16", "the BGP peer (bgp.peers), 10.0.0.5")]
    [TestCase("10.0.0.5", "the BGP peer (bgp.peers), 10.0.0.5")]
    [TestCase("10.244.0.10", "this pod's address (--pod-ip), 10.244.0.10")]
    [TestCase("192.0.2.0/24", "this node's address (--node-ip), 192.0.2.1")]
    [TestCase("127.0.0.1", "loopback (127.0.0.0/8)")]
    [TestCase("169.254.1.1", "link-local (169.254.0.0/16)")]
    [TestCase("224.0.0.5", "multicast (224.0.0.0/4)")]
    [TestCase("255.255.255.255", "broadcast (255.255.255.255)")]
    [TestCase("0.0.0.0", "\"this network\" (0.0.0.0/8)")]
    [TestCase("::1", "loopback (::1)")]
    [TestCase("fe80::1", "link-local (fe80::/10)")]
    public void A_Service_may_not_claim_an_address_the_pod_needs_or_a_special_purpose_one(string address, string conflict)
    {
        var result = Build(Service("web", address: address) + Slice("web", TwoReady), Tune("bgp: {peers: [10.0.0.5]}"));
        Assert.That(result.State.VirtualServers, Is.Empty);
        Assert.That(result.Errors.Single().ToString(), Does.Contain($"metadata.annotations[\"portable-lb.io/addresses\"]: ").And.Contain($"overlaps {conflict}; a Service may not claim it"));
    }

    [Test]
    public void Too_many_addresses_or_virtual_servers_for_one_Service_are_rejected_before_any_work()
    {
        var many = string.Join(",", Enumerable.Range(1, ServiceAddresses.MaxAddresses + 1).Select(i => $"198.51.100.{i}"));
        var result = Build(Service("web", annotation: many) + Slice("web", TwoReady));
        Assert.That(result.Errors.Single().ToString(), Does.Contain($"lists {ServiceAddresses.MaxAddresses + 1} addresses; a Service may have at most {ServiceAddresses.MaxAddresses}"));

        var ports = "[" + string.Join(", ", Enumerable.Range(1, 100).Select(p => $"{{name: p{p}, port: {p}}}")) + "]";
        var addresses = string.Join(",", Enumerable.Range(1, 11).Select(i => $"198.51.100.{i}"));
        result = Build(Service("web", annotation: addresses, ports: ports) + Slice("web", TwoReady));
        Assert.That(result.Errors.Single().ToString(), Does.Contain("11 addresses × 100 ports make 1100 virtual servers; a Service may have at most 1024"));
    }

    [Test]
    public void Past_the_total_of_real_servers_the_newest_Service_is_rejected()
    {
        var endpoints = "[" + string.Join(", ", Enumerable.Range(0, DesiredStateBuilder.MaxRealServers / 2).Select(i => $"{{addresses: [10.{i / 65536 + 10}.{i / 256 % 256}.{i % 256}]}}")) + "]";
        var result = Build(Service("old", address: "198.51.100.1", created: "2026-01-01T00:00:00Z") + Slice("old", endpoints)
            + Service("older", address: "198.51.100.2", created: "2025-01-01T00:00:00Z") + Slice("older", endpoints)
            + Service("new", address: "198.51.100.3", created: "2026-06-01T00:00:00Z") + Slice("new", TwoReady));
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "old", "older" }));
        Assert.That(result.Errors.Single().ToString(), Does.StartWith("Service default/new: spec: its 2 real servers would bring the total past 50,000"));
    }

    [TestCase("0.0.0.0", "\"this network\" (0.0.0.0/8)")]
    [TestCase("224.0.0.1", "multicast (224.0.0.0/4)")]
    [TestCase("127.0.0.1", "loopback (127.0.0.0/8)")]
    public void An_endpoint_at_a_special_purpose_address_is_skipped_naming_its_field(string address, string range)
    {
        var result = Build(Service("web") + Slice("web", $"[{{addresses: [10.244.1.1]}}, {{addresses: [\"{address}\"]}}]", name: "web-x"));
        Assert.That(result.Errors.Single().ToString(), Is.EqualTo($"EndpointSlice default/web-x: endpoints[1].addresses[0]: {address} is in {range}, never a pod's address; the endpoint is skipped"));
        Assert.That(result.State.VirtualServers.Single().RealServers.Select(r => r.Address.ToString()), Is.EqualTo(new[] { "10.244.1.1" }));
    }

    [Test]
    public void An_endpoint_at_the_Services_own_address_is_skipped()
    {
        var result = Build(Service("web", address: "198.51.100.10") + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [198.51.100.10]}]"));
        Assert.That(result.Errors.Single().ToString(), Does.Contain("an endpoint of this Service is at 198.51.100.10, its own load-balancer address"));
        Assert.That(result.State.VirtualServers.Single().RealServers.Select(r => r.Address.ToString()), Is.EqualTo(new[] { "10.244.1.1" }));
    }

    [Test]
    public void Services_with_the_same_share_key_may_share_an_address_on_different_ports_and_share_one_route()
    {
        const string key = "  annotations: {\"portable-lb.io/addresses\": \"192.0.2.10\", \"portable-lb.io/allow-shared-ip\": \"front\"}\n";
        string Shared(string name, string port) => Service(name, ports: $"[{{name: http, port: {port}}}]").Replace("  annotations: {\"portable-lb.io/addresses\": \"192.0.2.10\"}\n", key, StringComparison.Ordinal);
        var result = Build(Shared("http", "80") + Slice("http", TwoReady) + Shared("tls", "443") + Slice("tls", TwoReady));
        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.State.VirtualServers, Has.Count.EqualTo(2));
        Assert.That(result.State.Announcements.Single().Services.Select(s => s.Name), Is.EqualTo(new[] { "http", "tls" }));
    }

    [Test]
    public void Without_the_same_share_key_the_older_Service_keeps_the_address_even_on_other_ports()
    {
        var result = Build(Service("http", ports: "[{name: http, port: 80}]", created: "2026-01-01T00:00:00Z") + Slice("http", TwoReady)
            + Service("tls", ports: "[{name: http, port: 443}]", created: "2026-02-01T00:00:00Z") + Slice("tls", TwoReady));
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "http" }));
        Assert.That(result.Errors.Single().ToString(), Does.Contain("Service default/tls").And.Contain("192.0.2.10 is already served for Service default/http").And.Contain("allow-shared-ip"));
    }

    [Test]
    public void The_service_filter_narrows_the_served_set_and_warns_about_missing_names()
    {
        var result = Build(Service("a", address: "192.0.2.11") + Slice("a", TwoReady) + Service("b", address: "192.0.2.12") + Slice("b", TwoReady),
            only: [new ServiceName("default", "b"), new ServiceName("default", "nope")]);
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "b" }));
        Assert.That(result.Warnings, Has.One.Contains("default/nope"));
    }

    [Test]
    public void Direct_routing_rejects_a_port_change_but_not_a_prefix()
    {
        var tuning = Tune("virtualServer: {forwarding: dr}");
        var result = Build(Service("moved") + Slice("moved", TwoReady) + Service("range", address: "10.9.0.0/24") + Slice("range", TwoReady), tuning);
        Assert.That(result.Errors.Single().ToString(), Does.StartWith("Service default/moved: spec.ports[0]: forwarding dr cannot change ports"));
        Assert.That(result.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "range" }));
    }

    [Test]
    public void Per_Service_tuning_applies_to_that_Service_only()
    {
        var tuning = Tune("virtualServer: {scheduler: wlc}\nservices:\n  default/api: {scheduler: mh, healthCheck: {type: http, path: /healthz}}");
        var result = Build(Service("api", address: "192.0.2.11") + Slice("api", TwoReady) + Service("web", address: "192.0.2.12") + Slice("web", TwoReady), tuning);
        Assert.That(result.State.VirtualServers.Select(v => (v.Service.Name, v.Scheduler, v.RealServers[0].Check.Kind)),
            Is.EqualTo(new[] { ("api", Scheduler.Mh, CheckKind.Http), ("web", Scheduler.Wlc, CheckKind.Tcp) }));
    }

    [Test]
    public void The_health_check_port_defaults_to_the_real_servers_port()
    {
        var vs = Only(Build(Service("web") + Slice("web", TwoReady)));
        Assert.That(vs.RealServers[0].Check.Port, Is.EqualTo(8080));
        var fixedPort = Only(Build(Service("web") + Slice("web", TwoReady), Tune("virtualServer: {healthCheck: {port: 9000}}")));
        Assert.That(fixedPort.RealServers[0].Check.Port, Is.EqualTo(9000));
    }

    [Test]
    public void Equal_inputs_give_equal_states_so_an_unchanged_cluster_renders_nothing()
    {
        var yaml = Service("web", annotation: "192.0.2.10,10.1.1.0/24") + Slice("web", TwoReady, name: "web-1");
        var first = Build(yaml).State;
        var second = Build(yaml).State;
        Assert.That(second, Is.EqualTo(first));
        Assert.That(Build(yaml).State, Is.Not.EqualTo(Build(Service("web", annotation: "192.0.2.10,10.1.1.0/24") + Slice("web", "[{addresses: [10.244.1.1]}]", name: "web-1")).State));
    }

    [Test]
    public void The_result_does_not_depend_on_the_order_of_objects()
    {
        var a = Service("a", address: "192.0.2.11") + Slice("a", TwoReady, name: "a-1");
        var b = Service("b", address: "10.8.0.0/16") + Slice("b", "[{addresses: [10.244.3.3]}, {addresses: [10.244.2.2]}]", name: "b-1");
        Assert.That(Build(a + b).State, Is.EqualTo(Build(b + a).State));
    }
}
