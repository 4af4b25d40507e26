using System.Net;

namespace PortableLb.IntegrationTests.L2;

/// <summary>
/// L2 mode with the real keepalived in network namespaces (<see cref="L2Lab"/>): VRRP needs no IPVS, so this runs on
/// this kernel. Five IPv4 VIPs and one IPv6 VIP on three LB nodes, advert_int 1 s, preempt_delay 2 s.
/// </summary>
[NonParallelizable]
[CancelAfter(300_000)]
public sealed class L2ModeTests
{
    private static readonly IPAddress[] Vips =
        [.. Enumerable.Range(200, 5).Select(i => IPAddress.Parse($"{L2Lab.Subnet}.{i}")), IPAddress.Parse($"{L2Lab.Subnet6}200")];

    /// <summary>RFC 5798: a backup declares the master down after 3 adverts and a skew of (256 − priority)/256 adverts.</summary>
    private static readonly TimeSpan FailoverBound = TimeSpan.FromSeconds(3 * 1 + 1 + 1);

    private static async Task WaitForMastersAsync(L2Lab lab, TimeSpan limit)
    {
        var expected = lab.Expected();
        await L2Lab.WaitAsync(async () =>
        {
            foreach (var (vip, order) in expected)
            {
                var holders = await lab.HoldersAsync(vip);
                if (holders.Count != 1 || holders[0].Pod != order.Master.Pod) return false;
            }
            return true;
        }, limit, () => Task.FromResult($"every VIP on exactly the node its assignment names ({string.Join(", ", expected.Select(e => $"{e.Key} → {e.Value.Master.Pod}"))}); logs:\n"
            + string.Join("\n", lab.Nodes.Select(n => $"--- {n.Name}\n{lab.Logs(n)}"))));
    }

    [Test]
    public async Task Every_VIP_is_held_by_the_pod_its_assignment_names_and_the_client_follows_it_when_that_node_fails()
    {
        await using var lab = await L2Lab.StartAsync(nodes: 3, Vips);
        await lab.StartPodsAsync([.. lab.Nodes]);
        await WaitForMastersAsync(lab, TimeSpan.FromSeconds(30));

        var expected = lab.Expected();
        var perPod = expected.Values.Where(o => o.Vip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).GroupBy(o => o.Master.Pod).Select(g => g.Count()).ToList();
        Assert.That(perPod.Max() - perPod.Min(), Is.LessThanOrEqualTo(1), "5 IPv4 VIPs on 3 pods: 2, 2, 1");
        foreach (var (vip, order) in expected)
        {
            var master = lab.Nodes.Single(n => n.Pod == order.Master.Pod);
            Assert.That(await lab.AnswerAsync(vip), Is.EqualTo(master.Name), $"the client reaches {vip} at its master");
            Assert.That(await lab.NeighbourAsync(vip), Is.EqualTo(master.Mac), $"the client's neighbour entry for {vip}");
        }

        // The node that is master of the IPv6 VIP fails (so both ARP and NDP must follow).
        var v6 = Vips[^1];
        var failed = lab.Nodes.Single(n => n.Pod == expected[v6].Master.Pod);
        var moving = expected.Values.Where(o => o.Master.Pod == failed.Pod).ToList();
        await L2Lab.FailAsync(failed);
        var took = new List<string>();
        foreach (var order in moving)
        {
            var backup = lab.Nodes.Single(n => n.Pod == order.Order[1].Pod);
            var elapsed = await L2Lab.WaitAsync(async () => await lab.NeighbourAsync(order.Vip) == backup.Mac, FailoverBound + TimeSpan.FromSeconds(5),
                $"{order.Vip}'s neighbour entry moves to {backup.Name}");
            took.Add($"{order.Vip} → {backup.Name}: neighbour entry after {elapsed.TotalSeconds:F2} s");
            Assert.That(await lab.AnswerAsync(order.Vip), Is.EqualTo(backup.Name));
            Assert.That((await lab.HoldersAsync(order.Vip)).Select(n => n.Name), Is.EqualTo(new[] { backup.Name }));
        }
        TestContext.Out.WriteLine($"{failed.Name} failed (keepalived killed, link down): {string.Join("; ", took)}");
        foreach (var order in expected.Values.Where(o => o.Master.Pod != failed.Pod))
        {
            Assert.That((await lab.HoldersAsync(order.Vip)).Select(n => n.Pod), Is.EqualTo(new[] { order.Master.Pod }), $"{order.Vip} did not move");
        }
    }

    [Test]
    public async Task A_pod_that_stops_hands_its_VIPs_over_at_once()
    {
        await using var lab = await L2Lab.StartAsync(nodes: 3, Vips);
        await lab.StartPodsAsync([.. lab.Nodes]);
        await WaitForMastersAsync(lab, TimeSpan.FromSeconds(30));

        var order = lab.Expected()[Vips[0]];
        var stopping = lab.Nodes.Single(n => n.Pod == order.Master.Pod);
        var backup = lab.Nodes.Single(n => n.Pod == order.Order[1].Pod);
        // The client has talked to the VIP, as a client that notices a failover has: gratuitous ARP only updates an
        // entry the client already has (arp_accept 0).
        Assert.That(await lab.AnswerAsync(order.Vip), Is.EqualTo(stopping.Name));
        await L2Lab.StopAsync(stopping);
        var elapsed = await L2Lab.WaitAsync(async () => await lab.NeighbourAsync(order.Vip) == backup.Mac, TimeSpan.FromSeconds(2), $"{order.Vip} moves to {backup.Name}");

        TestContext.Out.WriteLine($"{stopping.Name} stopped (SIGTERM): {order.Vip} on {backup.Name} after {elapsed.TotalSeconds:F2} s");
        Assert.That(await lab.AnswerAsync(order.Vip), Is.EqualTo(backup.Name));
        Assert.That(await lab.HoldersAsync(order.Vip), Has.Count.EqualTo(1), "keepalived removed the VIP from the stopped node");
    }

    /// <summary>
    /// A fourth pod joins: every pod renders the new list, and after the preemption delay exactly the VIPs whose
    /// assigned master changed have moved, each to its new master and to no other node on the way. How many that is
    /// against the fewest possible (⌊5/4⌋ = 1 IPv4 VIP here) is printed; MasterAssignmentTests bounds it on average.
    /// </summary>
    [Test]
    public async Task When_a_pod_joins_only_the_VIPs_its_assignment_moves_change_node()
    {
        await using var lab = await L2Lab.StartAsync(nodes: 4, Vips);
        await lab.StartPodsAsync(lab.Nodes[0], lab.Nodes[1], lab.Nodes[2]);
        await WaitForMastersAsync(lab, TimeSpan.FromSeconds(30));
        var before = lab.Expected().ToDictionary(e => e.Key, e => e.Value.Master.Pod);

        await lab.StartPodsAsync(lab.Nodes[3]);
        var after = lab.Expected().ToDictionary(e => e.Key, e => e.Value.Master.Pod);
        var moved = Vips.Where(v => before[v] != after[v]).ToList();
        Assert.That(moved, Is.Not.Empty, "lb-4 is master of something");
        await WaitForMastersAsync(lab, TimeSpan.FromSeconds(30));

        var v4Moved = moved.Count(v => v.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
        TestContext.Out.WriteLine($"lb-4 joined: {moved.Count} VIPs moved ({string.Join(", ", moved.Select(v => $"{v} {before[v]} → {after[v]}"))}); of the IPv4 ones {v4Moved}, the fewest possible {5 / 4}");
        var perPod = lab.Nodes.Select(n => Vips.Count(v => v.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && after[v] == n.Pod)).ToList();
        Assert.That(perPod.Max() - perPod.Min(), Is.LessThanOrEqualTo(1), $"5 IPv4 VIPs on 4 pods: {string.Join(", ", perPod)}");
        foreach (var vip in Vips.Except(moved))
        {
            Assert.That((await lab.HoldersAsync(vip)).Select(n => n.Pod), Is.EqualTo(new[] { before[vip] }), $"{vip} stayed");
        }
    }
}
