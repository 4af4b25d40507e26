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
        // The failover numbers and data paths first: a CI log keeps a summary's start and end, not its middle.
        var summary = $"--- l2.txt\n{vm.Text("l2.txt")}\n--- the master's data path\n{vm.Text("l2-datapath.txt")}" +
            $"\n--- the backup's data path after the stop\n{vm.Text("l2-datapath-stop.txt")}" +
            $"\n--- after the node failure\n{vm.Text("l2-datapath-node-failure.txt")}" +
            $"\n--- lb1\n{Transitions(vm.Text("lb1.log"))}\n--- lb2\n{Transitions(vm.Text("lb2.log"))}\n{vm.Summary()}";
        await TestContext.Out.WriteLineAsync(summary);
        Assert.That(checks, Has.Count.GreaterThanOrEqualTo(8), $"the guest did not finish its checks\n{summary}");
        Assert.That(checks.Where(c => !c.StartsWith("PASS ", StringComparison.Ordinal)), Is.Empty, summary);
        Assert.That(vm.ExitCode, Is.Zero, summary);
    }

    /// <summary>keepalived's state changes (VRRP states, real servers' health) and the controller's warnings among a pod's output, the last 40.</summary>
    private static string Transitions(string log) =>
        string.Join("\n", log.Split('\n').Where(IsTransition).TakeLast(40));

    private static bool IsTransition(string line) =>
        line.Contains("STATE", StringComparison.Ordinal) || line.Contains("TCP connection", StringComparison.Ordinal) ||
        line.Contains("Removing service", StringComparison.Ordinal) || line.Contains("Adding service", StringComparison.Ordinal) ||
        line.Contains("fail", StringComparison.OrdinalIgnoreCase) || line.Contains(" warn: ", StringComparison.Ordinal);
}
