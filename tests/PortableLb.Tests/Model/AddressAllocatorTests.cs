using PortableLb.Model;
using PortableLb.Tuning;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Model;

/// <summary>Address pools: the leader's allocation (through the status plan it writes) and every pod's reading of it back.</summary>
public sealed class AddressAllocatorTests
{
    private const string TwoReady = "[{addresses: [10.0.0.1], conditions: {ready: true}}, {addresses: [10.0.0.2], conditions: {ready: true}}]";

    private static readonly TuningSettings Pools = Tune("""
        bgp: {peers: [192.0.2.254]}
        pools:
          - name: default
            addresses: ["198.51.100.0/30", "2001:db8:1::/126"]
          - name: reserved
            addresses: ["203.0.113.10-203.0.113.11"]
            autoAssign: false
        """);

    /// <summary>A served Service that names no address; `annotations` and `spec` are extra YAML lines, `status` its recorded addresses.</summary>
    private static string Wanting(string name, string created, string annotations = "", string spec = "", string ports = "[{name: http, port: 80}]", params string[] status) =>
        WantingYaml(name, created, annotations, spec, ports, "status: {loadBalancer: {ingress: [" + string.Join(", ", status.Select(s => $"{{ip: {s}, ipMode: VIP}}")) + "]}}");

    private static string WantingYaml(string name, string created, string annotations, string spec, string ports, string status) => $$"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {{name}}
          namespace: default
          creationTimestamp: "{{created}}"
          uid: "{{name}}"
          annotations: {{"{" + annotations + "}"}}
        spec:
          type: LoadBalancer
          loadBalancerClass: portable-lb.io/ipvs
          ports: {{ports}}
        {{spec}}
        {{status}}
        ---

        """ + Slice(name, TwoReady);

    private static StatusPlan Plan(string yaml, TuningSettings? tuning = null)
    {
        var snapshot = FromYaml(yaml);
        tuning ??= Pools;
        return ServiceStatusPlanner.Plan(snapshot, DesiredStateBuilder.Build(snapshot, tuning, Node), tuning, Node, only: null);
    }

    private static Dictionary<string, string> Assigned(StatusPlan plan) =>
        plan.Changes.ToDictionary(c => c.Service.Name, c => string.Join(" ", c.Ingress.Select(i => i.Ip)));

    [Test]
    public void Services_without_an_address_get_the_lowest_free_one_oldest_first()
    {
        var plan = Plan(Wanting("newer", "2026-03-01T00:00:00Z") + Wanting("older", "2026-01-01T00:00:00Z"));
        Assert.That(Assigned(plan), Is.EqualTo(new Dictionary<string, string> { ["older"] = "198.51.100.0", ["newer"] = "198.51.100.1" }));
        Assert.That(plan.AllocationFailures, Is.Empty);
    }

    [Test]
    public void A_recorded_allocation_is_served_on_every_pod_and_never_moves()
    {
        var yaml = Wanting("web", "2026-03-01T00:00:00Z", status: "198.51.100.2") + Wanting("new", "2026-01-01T00:00:00Z");
        var build = Build(yaml, Pools);
        Assert.That(build.Services.Single(s => s.Name.Name == "web").Addresses, Is.EqualTo(new[] { "198.51.100.2" }), "read back from the status");
        // The older newcomer does not take it, even though it is older: a served address is held.
        Assert.That(Assigned(Plan(yaml)), Is.EqualTo(new Dictionary<string, string> { ["new"] = "198.51.100.0" }));
    }

    [Test]
    public void A_pool_named_by_annotation_is_used_even_without_autoAssign_and_an_unknown_one_is_an_error()
    {
        var plan = Plan(Wanting("vip", "2026-01-01T00:00:00Z", annotations: "\"portable-lb.io/pool\": reserved")
            + Wanting("typo", "2026-01-01T00:00:00Z", annotations: "\"portable-lb.io/pool\": reserve"));
        Assert.That(Assigned(plan), Is.EqualTo(new Dictionary<string, string> { ["vip"] = "203.0.113.10" }));
        var errors = Build(Wanting("typo", "2026-01-01T00:00:00Z", annotations: "\"portable-lb.io/pool\": reserve"), Pools).Errors;
        Assert.That(errors.Single().ToString(), Does.Contain("metadata.annotations[\"portable-lb.io/pool\"]: names pool \"reserve\", which the tuning does not define (default, reserved)"));
    }

    [Test]
    public void A_pool_change_moves_the_Service_to_the_new_pool()
    {
        var plan = Plan(Wanting("web", "2026-01-01T00:00:00Z", annotations: "\"portable-lb.io/pool\": reserved", status: "198.51.100.0"));
        Assert.That(Assigned(plan), Is.EqualTo(new Dictionary<string, string> { ["web"] = "203.0.113.10" }));
    }

    [Test]
    public void Dual_stack_Services_get_one_address_of_each_family_as_their_policy_asks()
    {
        var required = Plan(Wanting("both", "2026-01-01T00:00:00Z", spec: "  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv6, IPv4]"));
        Assert.That(Assigned(required), Is.EqualTo(new Dictionary<string, string> { ["both"] = "2001:db8:1:: 198.51.100.0" }));

        var v4Only = Tune("pools: [{name: v4, addresses: [198.51.100.0/30]}]");
        var preferred = Plan(Wanting("prefer", "2026-01-01T00:00:00Z", spec: "  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv4, IPv6]"), v4Only);
        Assert.That(Assigned(preferred), Is.EqualTo(new Dictionary<string, string> { ["prefer"] = "198.51.100.0" }), "prefer: what the pools have");
        var impossible = Plan(Wanting("both", "2026-01-01T00:00:00Z", spec: "  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]"), v4Only);
        Assert.That(impossible.Changes, Is.Empty);
        Assert.That(impossible.AllocationFailures.Single().ToString(), Does.Contain("Service default/both: spec.ipFamilies: no free IPv6 address: pool v4"));
    }

    [Test]
    public void An_exhausted_pool_is_an_allocation_failure_for_the_newest_Service()
    {
        var yaml = string.Concat(Enumerable.Range(1, 5).Select(i => Wanting($"s{i}", $"2026-01-0{i}T00:00:00Z")));
        var plan = Plan(yaml);
        Assert.That(Assigned(plan).Keys, Is.EquivalentTo(new[] { "s1", "s2", "s3", "s4" }), "a /30 holds four");
        Assert.That(plan.AllocationFailures.Select(f => f.ToString()), Is.EqualTo(new[] { "Service default/s5: spec.ipFamilies: no free IPv4 address: pool default" }));
    }

    [Test]
    public void Services_with_one_share_key_and_other_ports_share_an_address_and_overlapping_ports_do_not()
    {
        const string shared = "\"portable-lb.io/allow-shared-ip\": front";
        var plan = Plan(Wanting("http", "2026-01-01T00:00:00Z", annotations: shared, status: "198.51.100.0")
            + Wanting("tls", "2026-01-02T00:00:00Z", annotations: shared, ports: "[{name: https, port: 443}]")
            + Wanting("clash", "2026-01-03T00:00:00Z", annotations: shared)
            + Wanting("alone", "2026-01-04T00:00:00Z", ports: "[{name: https, port: 8443}]"));
        Assert.That(Assigned(plan), Is.EqualTo(new Dictionary<string, string> { ["tls"] = "198.51.100.0", ["clash"] = "198.51.100.1", ["alone"] = "198.51.100.2" }));
    }

    [Test]
    public void A_Service_giving_an_address_up_is_written_before_the_one_taking_it()
    {
        // "taker" (older) now names 198.51.100.0 itself, which "holder" shows as its allocation: holder loses it
        // (the older claim wins) and must be cleared before taker shows it, or for a moment both would.
        var plan = Plan(Service("taker", address: "198.51.100.0", created: "2025-01-01T00:00:00Z") + Slice("taker", TwoReady)
            + Wanting("holder", "2026-01-01T00:00:00Z", status: "198.51.100.0"));
        Assert.That(plan.Changes.Select(c => $"{c.Service.Name}:{string.Join(" ", c.Ingress.Select(i => i.Ip))}"),
            Is.EqualTo(new[] { "holder:", "taker:198.51.100.0" }), "holder is cleared first, and gets a new address on the next pass");
    }

    [Test]
    public void With_pools_a_Services_own_address_must_lie_in_one()
    {
        var build = Build(Service("inside", address: "198.51.100.3") + Slice("inside", TwoReady) + Service("outside", address: "192.0.2.50") + Slice("outside", TwoReady), Pools);
        Assert.That(build.Services.Select(s => s.Name.Name), Is.EqualTo(new[] { "inside" }));
        Assert.That(build.Errors.Single().ToString(), Does.Contain("192.0.2.50 lies outside every address pool (default, reserved)"));
        Assert.That(Build(Service("anywhere", address: "192.0.2.50") + Slice("anywhere", TwoReady)).Errors, Is.Empty, "no pools: any address");
    }

    [Test]
    public void Without_pools_nothing_is_allocated_and_a_Service_without_an_address_is_an_error()
    {
        var plan = Plan(Wanting("web", "2026-01-01T00:00:00Z"), WithPeer);
        Assert.That(plan.Changes, Is.Empty);
        Assert.That(plan.AllocationFailures, Is.Empty);
        Assert.That(Build(Wanting("web", "2026-01-01T00:00:00Z")).Errors.Single().ToString(), Does.Contain("or configure an address pool"));
    }

    [Test]
    public void Pools_are_parsed_with_every_problem_named_by_its_path()
    {
        Assert.That(Pools.Pools.Select(p => $"{p.Name}:{string.Join(",", p.Ranges)}:{p.AutoAssign}"),
            Is.EqualTo(new[] { "default:198.51.100.0-198.51.100.3,2001:db8:1::-2001:db8:1::3:True", "reserved:203.0.113.10-203.0.113.11:False" }));
        var errors = TuningParser.Parse("""
            pools:
              - name: a
                addresses: ["10.0.0.0/24", "10.0.0.20-10.0.0.10", "10.0.1.1-2001:db8::1", "nope"]
              - name: a
                addresses: ["10.0.0.128/25"]
              - name: Bad_Name
                addresses: []
                autoAssign: maybe
            """, "t").Errors.Select(e => e.ToString());
        Assert.That(errors, Is.EquivalentTo(new[]
        {
            "t: pools[0].addresses[1]: \"10.0.0.20-10.0.0.10\" must run from a lower to a higher address of one family",
            "t: pools[0].addresses[2]: \"10.0.1.1-2001:db8::1\" must run from a lower to a higher address of one family",
            "t: pools[0].addresses[3]: \"nope\" is not an IPv4 or IPv6 address or prefix",
            "t: pools[1].name: \"a\" names two pools",
            "t: pools[1].addresses[0]: 10.0.0.128-10.0.0.255 overlaps 10.0.0.0-10.0.0.255 of pool \"a\"; an address belongs to one pool",
            "t: pools[2].name: \"Bad_Name\" is not a DNS label (lower-case letters, digits and '-', at most 63)",
            "t: pools[2].addresses: must list at least one prefix, range or address",
            "t: pools[2].autoAssign: must be true or false, got \"maybe\"",
        }));
    }
}
