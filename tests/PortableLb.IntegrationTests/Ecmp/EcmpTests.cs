namespace PortableLb.IntegrationTests.Ecmp;

/// <summary>
/// The thesis' redundancy experiment (Table 7.2) with PortableLb in the loop: real FRR as the router, real gobgpd
/// as the route reflector, real exabgp in each LB pod, all inside network namespaces the lab creates and removes.
/// One lab, one story, in order: each step builds on the routes the previous one left.
/// </summary>
[CancelAfter(900_000)]
[NonParallelizable]
public sealed class EcmpTests
{
    private const int HoldTime = 6;
    // Under emulation (the VM runs on TCG) an exabgp reload takes seconds, not milliseconds.
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);

    [Test]
    public async Task Routes_follow_LB_pods_and_endpoint_health_with_ECMP_at_the_router()
    {
        Daemons.RequireRoot();
        Daemons.Require("ip", "exabgp", "gobgpd", "gobgp", "vtysh", "python3", "keepalived", "qemu-system-x86_64", "dpkg-deb", "apt-get");
        await using var vm = await VmSession.StartAsync();
        await using var lab = await EcmpLab.StartAsync(vm, EcmpLab.PortableLbCommand(), HoldTime);
        try
        {
            await Story(lab);
        }
        catch (Exception)
        {
            await TestContext.Out.WriteLineAsync(await lab.LogsAsync());
            throw;
        }
    }

    private static string[] Nodes(params int[] lbs) => lbs.Select(EcmpLab.NodeOf).ToArray();

    private static Task Routes(EcmpLab lab, string address, string[] expected, string what) =>
        Eventually.True(async () => (await lab.NextHopsAsync(address)).SequenceEqual(expected), $"{what}: {address} via [{string.Join(", ", expected)}]", timeout: Converge);

    private static async Task Story(EcmpLab lab)
    {
        // Table 7.2 (a): one LB pod, one next hop.
        await lab.StartLbAsync(1, "a");
        await Routes(lab, EcmpLab.ServiceA, Nodes(1), "(a) one LB");

        // Table 7.2 (b) and (c): three LB pods for web-a; web-b on two of the same nodes is a second ECMP route.
        await lab.StartLbAsync(2, "a", "b");
        await lab.StartLbAsync(3, "a", "b");
        await Routes(lab, EcmpLab.ServiceA, Nodes(1, 2, 3), "(b) three LBs");
        await Routes(lab, EcmpLab.ServiceB, Nodes(2, 3), "(c) a second Service on two of them");

        // Traffic takes every path: flows hash over all three next hops.
        var flows = await lab.FlowNextHopsAsync(EcmpLab.ServiceA, 48);
        Assert.That(flows.Distinct().Order(StringComparer.Ordinal), Is.EqualTo(Nodes(1, 2, 3)), "48 TCP flows from the router");

        // Announcement follows health, and route-only changes never reset a session.
        var sessions = await lab.SessionsAsync();
        Assert.That(sessions.Keys, Is.SupersetOf(Nodes(1, 2, 3).Append("10.99.0.1")));
        for (var round = 0; round < 3; round++)
        {
            await lab.SetEndpointsAsync("b", serving: false);
            await Routes(lab, EcmpLab.ServiceB, [], "the last endpoint of web-b gone");
            Assert.That(await lab.NextHopsAsync(EcmpLab.ServiceA), Is.EqualTo(Nodes(1, 2, 3)), "web-a is untouched");
            await lab.SetEndpointsAsync("b", serving: true);
            await Routes(lab, EcmpLab.ServiceB, Nodes(2, 3), "web-b's endpoints back");
        }
        Assert.That(await lab.SessionsAsync(), Is.EqualTo(sessions), "session uptimes across endpoint churn");

        // Graceful removal: SIGTERM → withdraw → grace → exit. The router drops the next hop at once.
        await lab.StopLbAsync(3);
        await Routes(lab, EcmpLab.ServiceA, Nodes(1, 2), "LB 3 stopped gracefully");
        await Routes(lab, EcmpLab.ServiceB, Nodes(2), "LB 3 stopped gracefully (web-b)");

        // A pod added later joins the route.
        await lab.StartLbAsync(4, "a");
        await Routes(lab, EcmpLab.ServiceA, Nodes(1, 2, 4), "LB 4 added");

        // Hard failures: a frozen exabgp and a cut link both leave within the hold time.
        await lab.FreezeExabgpAsync(4);
        await Routes(lab, EcmpLab.ServiceA, Nodes(1, 2), "LB 4's exabgp frozen (SIGSTOP)");
        await lab.UnlinkAsync(2);
        await Routes(lab, EcmpLab.ServiceA, Nodes(1), "LB 2's link down");
        await Routes(lab, EcmpLab.ServiceB, [], "LB 2's link down (web-b had only LB 2 left)");
    }
}
