namespace PortableLb.IntegrationTests.Vm;

/// <summary>
/// L2 mode with real IPVS (tests/vm/l2-guest.sh in the VM): two LB nodes run `portable-lb run` as the L2 overlay
/// runs it, in the node's namespace, and keepalived holds the VIP by VRRP and balances it to web pods on a third
/// node. The client keeps opening connections while the master's pod stops and, later, while its node fails.
/// </summary>
[CancelAfter(1_200_000)]
[NonParallelizable]
public sealed class L2VmTests
{
    [Test]
    public async Task A_client_on_the_segment_reaches_the_web_pods_through_the_masters_IPVS_and_keeps_reaching_them_across_failovers(CancellationToken cancellationToken)
    {
        Daemons.RequireRoot();
        Daemons.Require("qemu-system-x86_64", "keepalived", "ipvsadm", "ip", "nft", "nginx", "curl", "dpkg-deb", "apt-get");
        // Two controllers start under emulation, and one restarts: more than the default 600 s may pass.
        using var vm = await VmLab.RunAsync("l2", events: 0, cancellationToken, timeout: TimeSpan.FromSeconds(1_080));

        var checks = vm.Lines("checks.txt");
        var summary = $"{vm.Summary()}\n--- l2.txt\n{vm.Text("l2.txt")}\n--- the master's data path\n{vm.Text("l2-datapath.txt")}\n--- lb1\n{Tail(vm.Text("lb1.log"))}\n--- lb2\n{Tail(vm.Text("lb2.log"))}";
        await TestContext.Out.WriteLineAsync(summary);
        Assert.That(checks, Has.Count.GreaterThanOrEqualTo(8), $"the guest did not finish its checks\n{summary}");
        Assert.That(checks.Where(c => !c.StartsWith("PASS ", StringComparison.Ordinal)), Is.Empty, summary);
        Assert.That(vm.ExitCode, Is.Zero, summary);
    }

    private static string Tail(string text) => string.Join("\n", text.Split('\n').TakeLast(30));
}
