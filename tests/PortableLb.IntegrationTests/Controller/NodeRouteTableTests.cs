using System.Diagnostics;
using System.Net;
using System.Text.Json;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>
/// The node's routes to its LB pods, both kinds, in a network namespace standing in for a node with its pod bridge:
/// what the kernel holds after each apply, what a restart adopts, and the point of resilient groups: a joining LB pod
/// takes no hash bucket that is carrying traffic.
/// </summary>
[CancelAfter(120_000)]
public sealed class NodeRouteTableTests
{
    private string _ns = "";

    /// <summary>Runs `ip` inside the test's namespace, as the node-routes pod runs it in the node's.</summary>
    private sealed class InNamespace(string ns) : IProcessRunner
    {
        public Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken) =>
            new ProcessRunner().RunAsync(program, program == "ip" ? ["-n", ns, .. arguments] : arguments, environment, timeout, cancellationToken);
    }

    private async Task<string> Ip(params string[] arguments)
    {
        var result = await new InNamespace(_ns).RunAsync("ip", arguments, null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That(result.ExitCode, Is.Zero, $"ip {string.Join(' ', arguments)}: {result.StandardError}");
        return result.StandardOutput;
    }

    private static readonly IPNetwork Vip = IPNetwork.Parse("198.51.100.10/32");
    private static readonly IPAddress PodA = IPAddress.Parse("10.244.1.5");
    private static readonly IPAddress PodB = IPAddress.Parse("10.244.1.6");
    private static readonly IPAddress PodC = IPAddress.Parse("10.244.1.7");

    private static NodeRoute Route(params IPAddress[] via) => new(Vip, via.ToValueList());

    [SetUp]
    public async Task Setup()
    {
        Daemons.Require("ip");
        Daemons.RequireRoot();
        _ns = $"plb-rt-{Guid.NewGuid().ToString("N")[..8]}";
        var created = await new ProcessRunner().RunAsync("ip", ["netns", "add", _ns], null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That(created.ExitCode, Is.Zero, created.StandardError);
        await Ip("link", "set", "lo", "up");
        await Ip("link", "add", "cni0", "type", "bridge");
        await Ip("addr", "add", "10.244.1.1/24", "dev", "cni0");
        await Ip("link", "set", "cni0", "up");
    }

    [TearDown]
    public async Task Cleanup() => await new ProcessRunner().RunAsync("ip", ["netns", "del", _ns], null, TimeSpan.FromSeconds(10), CancellationToken.None);

    private async Task<JsonElement[]> Nexthops(string protocol = "201") =>
        [.. JsonDocument.Parse(await Ip("-j", "nexthop", "show")).RootElement.EnumerateArray().Where(n => n.TryGetProperty("protocol", out var p) && p.GetString() == protocol)];

    private async Task<(uint Group, string[] Via)> OurRoute()
    {
        var route = JsonDocument.Parse(await Ip("-j", "route", "show", "table", "main", "proto", "201")).RootElement.EnumerateArray().Single();
        var via = route.TryGetProperty("nexthops", out var hops) ? hops.EnumerateArray().Select(h => h.GetProperty("gateway").GetString()!).ToArray() : [route.GetProperty("gateway").GetString()!];
        return (route.TryGetProperty("nhid", out var id) ? id.GetUInt32() : 0, via);
    }

    [Test]
    public async Task Resilient_groups_change_their_members_never_the_route_and_a_restart_adopts_them()
    {
        var table = new NodeRouteTable(new InNamespace(_ns), resilientGroups: true);
        Assert.That(await table.ApplyAsync([Route(PodA)], CancellationToken.None), Is.Empty);
        var (group, via) = await OurRoute();
        Assert.That(group, Is.Not.Zero, "the route names a nexthop group");
        Assert.That(via, Is.EqualTo(new[] { "10.244.1.5", "10.244.1.5" }), "a lone pod is in its group twice");
        Assert.That(table.Kind, Is.EqualTo("resilient nexthop groups"));
        var groupObject = (await Nexthops()).Single(n => n.GetProperty("id").GetUInt32() == group);
        Assert.That(groupObject.GetProperty("type").GetString(), Is.EqualTo("resilient"));
        Assert.That(groupObject.GetProperty("resilient_args").GetProperty("buckets").GetInt32(), Is.EqualTo(ResilientGroupRoutes.Buckets));

        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], CancellationToken.None), Is.Empty);
        var both = await OurRoute();
        Assert.That(both.Group, Is.EqualTo(group), "the same route and group");
        Assert.That(both.Via, Is.EqualTo(new[] { "10.244.1.5", "10.244.1.5", "10.244.1.6", "10.244.1.6" }), "with both pods");

        // A restarted node-routes adopts the group: pod A leaves, pod B stays in the same group, A's nexthop object goes.
        var restarted = new NodeRouteTable(new InNamespace(_ns), resilientGroups: true);
        Assert.That(await restarted.ApplyAsync([Route(PodB)], CancellationToken.None), Is.Empty);
        Assert.That((await OurRoute()).Group, Is.EqualTo(group));
        Assert.That((await OurRoute()).Via, Is.EqualTo(new[] { "10.244.1.6", "10.244.1.6" }));
        Assert.That((await Nexthops()).Select(n => n.TryGetProperty("gateway", out var g) ? g.GetString() : "group"), Is.EquivalentTo(new[] { "10.244.1.6", "10.244.1.6", "group" }));

        // The Service goes: its route, group and nexthop objects go; someone else's nexthop object stays.
        await Ip("nexthop", "add", "id", "7", "via", "10.244.1.9", "dev", "cni0", "proto", "static");
        Assert.That(await restarted.ApplyAsync([], CancellationToken.None), Is.Empty);
        Assert.That(await Ip("route", "show", "table", "main", "proto", "201"), Is.Empty);
        Assert.That(await Nexthops(), Is.Empty);
        Assert.That(await Nexthops("static"), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Multipath_routes_where_the_kernel_has_no_resilient_groups()
    {
        var table = new NodeRouteTable(new InNamespace(_ns), resilientGroups: false);
        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], CancellationToken.None), Is.Empty);
        Assert.That(table.Kind, Is.EqualTo("multipath routes"));
        var route = await OurRoute();
        Assert.That(route.Group, Is.Zero, "no nexthop group");
        Assert.That(route.Via, Is.EqualTo(new[] { "10.244.1.5", "10.244.1.6" }));
        Assert.That(await Nexthops(), Is.Empty);

        // An upgrade to a kernel with resilient groups: the multipath route is adopted and becomes a group's.
        var upgraded = new NodeRouteTable(new InNamespace(_ns), resilientGroups: true);
        Assert.That(await upgraded.ApplyAsync([Route(PodA, PodB)], CancellationToken.None), Is.Empty);
        Assert.That((await OurRoute()).Group, Is.Not.Zero);
    }

    [TestCase(true, TestName = "A resilient-group route deleted behind node-routes' back is set again at the next pass")]
    [TestCase(false, TestName = "A multipath route deleted behind node-routes' back is set again at the next pass")]
    public async Task A_route_deleted_behind_its_back_is_set_again(bool resilient)
    {
        var table = new NodeRouteTable(new InNamespace(_ns), resilientGroups: resilient);
        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], CancellationToken.None), Is.Empty);
        await Ip("route", "del", Vip.ToString(), "proto", "201");
        Assert.That(await Ip("route", "show", Vip.ToString()), Is.Empty);

        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], CancellationToken.None), Is.Empty);
        var route = await Ip("route", "show", Vip.ToString(), "proto", "201");
        Assert.That(route, resilient ? Does.Contain("nhid") : Does.Contain("10.244.1.5").And.Contain("10.244.1.6"));
        if (resilient) Assert.That(await Nexthops(), Has.Length.EqualTo(5), "one group and its two pods' objects, the orphaned group collected");
    }

    [TestCase(1, TestName = "A pod joining a lone LB pod takes only idle buckets, so a flow in flight keeps its pod")]
    [TestCase(2, TestName = "A pod joining two LB pods takes only idle buckets, so a flow in flight keeps its pod")]
    public async Task A_joining_LB_pod_takes_only_idle_buckets(int podsBefore)
    {
        var table = new NodeRouteTable(new InNamespace(_ns), resilientGroups: true);
        IPAddress[] pods = [PodA, PodB, PodC];
        var before = pods[..podsBefore];
        Assert.That(await table.ApplyAsync([Route(before)], CancellationToken.None), Is.Empty);
        var group = (await OurRoute()).Group;
        // Let every bucket go idle, then keep one flow going.
        await Task.Delay(TimeSpan.FromSeconds(ResilientGroupRoutes.IdleSeconds + 1));
        using var flow = OneFlow();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            var busy = (await Buckets(group)).Where(b => b.IdleSeconds < 1).ToList();
            Assert.That(busy, Is.Not.Empty, "the flow's bucket is marked busy, even with one pod");

            var joining = pods[podsBefore];
            Assert.That(await table.ApplyAsync([Route([.. before, joining])], CancellationToken.None), Is.Empty);
            var after = await Buckets(group);
            foreach (var bucket in busy)
            {
                Assert.That(after.Single(b => b.Index == bucket.Index).Nexthop, Is.EqualTo(bucket.Nexthop), $"busy bucket {bucket.Index} keeps its pod");
            }
            var joined = await PodObjects(joining);
            var share = ResilientGroupRoutes.Buckets / (podsBefore + 1);
            Assert.That(after.Count(b => joined.Contains(b.Nexthop)), Is.InRange(share - ResilientGroupRoutes.ObjectsPerPod, share + ResilientGroupRoutes.ObjectsPerPod),
                "the joining pod took its share, all of it from idle buckets");
        }
        finally
        {
            if (!flow.HasExited) flow.Kill();
        }
    }

    [Test]
    public async Task A_draining_LB_pod_keeps_its_busy_buckets_and_gives_up_the_idle_ones()
    {
        var table = new NodeRouteTable(new InNamespace(_ns), resilientGroups: true);
        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], CancellationToken.None), Is.Empty);
        var group = (await OurRoute()).Group;
        var objectsOfA = await PodObjects(PodA);
        await Task.Delay(TimeSpan.FromSeconds(ResilientGroupRoutes.IdleSeconds + 1));
        using var flow = OneFlow();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            var busyOnA = (await Buckets(group)).Where(b => b.IdleSeconds < 1 && objectsOfA.Contains(b.Nexthop)).Select(b => b.Index).ToHashSet();

            // Pod A drains: the least weight beside B's.
            Assert.That(await table.ApplyAsync([Route(PodB) with { Draining = new[] { PodA }.ToValueList() }], CancellationToken.None), Is.Empty);
            var group2 = JsonDocument.Parse(await Ip("-j", "nexthop", "show", "id", group.ToString(System.Globalization.CultureInfo.InvariantCulture))).RootElement.EnumerateArray().Single();
            // ip leaves out a weight of 1, the least there is.
            int Weight(JsonElement member) => member.TryGetProperty("weight", out var w) ? w.GetInt32() : 1;
            var members = group2.GetProperty("group").EnumerateArray().ToList();
            Assert.That(members.Where(m => objectsOfA.Contains(m.GetProperty("id").GetUInt32())).Select(Weight), Is.EqualTo(new[] { 1, 1 }));
            Assert.That(members.Where(m => !objectsOfA.Contains(m.GetProperty("id").GetUInt32())).Select(Weight), Is.EqualTo(new[] { ResilientGroupRoutes.ServingWeight, ResilientGroupRoutes.ServingWeight }));
            var onA = (await Buckets(group)).Where(b => objectsOfA.Contains(b.Nexthop)).Select(b => b.Index).ToHashSet();
            Assert.That(onA, Is.SupersetOf(busyOnA), "A keeps the buckets carrying traffic");
            var fairShare = (int)Math.Ceiling((double)ResilientGroupRoutes.Buckets / (ResilientGroupRoutes.ServingWeight + 1)) * ResilientGroupRoutes.ObjectsPerPod;
            Assert.That(onA, Has.Count.LessThanOrEqualTo(busyOnA.Count + fairShare), "and gives up the idle ones beyond its fair share");

            // The drain over: A leaves, and its buckets with it.
            Assert.That(await table.ApplyAsync([Route(PodB)], CancellationToken.None), Is.Empty);
            Assert.That((await Buckets(group)).Select(b => b.Nexthop).Distinct(), Is.SubsetOf(await PodObjects(PodB)));
        }
        finally
        {
            if (!flow.HasExited) flow.Kill();
        }
    }

    /// <summary>An LB pod's nexthop objects in the node.</summary>
    private async Task<HashSet<uint>> PodObjects(IPAddress pod) =>
        [.. (await Nexthops()).Where(n => n.TryGetProperty("gateway", out var g) && g.GetString() == pod.ToString()).Select(n => n.GetProperty("id").GetUInt32())];

    /// <summary>
    /// One flow to the VIP from inside the node, a datagram every 0.2 s for 20 s: each packet's path choice marks its
    /// bucket busy (with a single member the kernel has no choice to make, and marks nothing).
    /// </summary>
    private Process OneFlow()
    {
        const string Sender = "import socket, sys, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(100):\n    try: s.sendto(b'x', (sys.argv[1], 9))\n    except OSError: pass\n    time.sleep(0.2)\n";
        return Process.Start(new ProcessStartInfo("ip", ["netns", "exec", _ns, "python3", "-c", Sender, Vip.BaseAddress.ToString()]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
    }

    private async Task<List<(int Index, double IdleSeconds, uint Nexthop)>> Buckets(uint group) =>
        [.. JsonDocument.Parse(await Ip("-j", "nexthop", "bucket", "show", "id", group.ToString(System.Globalization.CultureInfo.InvariantCulture))).RootElement.EnumerateArray()
            .Select(b => b.GetProperty("bucket"))
            .Select(b => (b.GetProperty("index").GetInt32(), b.GetProperty("idle_time").GetDouble(), b.GetProperty("nhid").GetUInt32()))];
}
