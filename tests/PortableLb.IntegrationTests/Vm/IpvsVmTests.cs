namespace PortableLb.IntegrationTests.Vm;

/// <summary>
/// Real IPVS, which this machine's kernel lacks: tests/vm/vm-host.sh boots Debian's kernel under QEMU and runs
/// tests/vm/vm-guest.sh there, where portable-lb (supervised layout) makes keepalived program IPVS from manifests.
/// Each guest check comes back as one PASS/FAIL line.
/// </summary>
[CancelAfter(900_000)]
[NonParallelizable]
public sealed class IpvsVmTests
{
    [Test]
    public async Task Keepalived_programs_kernel_IPVS_from_what_portable_lb_renders(CancellationToken cancellationToken)
    {
        Daemons.RequireRoot();
        Daemons.Require("qemu-system-x86_64", "keepalived", "ipvsadm", "ip", "nginx", "curl", "dpkg-deb", "apt-get");
        using var vm = await VmLab.RunAsync("checks", events: 1, cancellationToken);

        var checks = vm.Lines("checks.txt");
        await TestContext.Out.WriteLineAsync(vm.Summary());
        Assert.That(checks, Has.Count.GreaterThanOrEqualTo(12), $"the guest did not finish its checks\n{vm.Summary()}");
        Assert.That(checks.Where(c => !c.StartsWith("PASS ", StringComparison.Ordinal)), Is.Empty, vm.Summary());
        Assert.That(vm.ExitCode, Is.Zero, vm.Summary());
    }
}
