using System.Net;
using System.Net.Sockets;

namespace PortableLb.IntegrationTests.Vm;

/// <summary>The VM every IPVS test runs in: it has IPVS, runs what is installed here, and reaches this machine only at 10.0.2.2.</summary>
[CancelAfter(600_000)]
[NonParallelizable]
public sealed class VmSessionTests
{
    [Test]
    public async Task The_guest_has_IPVS_runs_this_machines_programs_and_reaches_its_loopback(CancellationToken cancellationToken)
    {
        Daemons.RequireRoot();
        Daemons.Require("qemu-system-x86_64", "ipvsadm", "dpkg-deb", "apt-get");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = listener.AcceptTcpClientAsync(cancellationToken).AsTask();

        await using var vm = await VmSession.StartAsync(cancellationToken: cancellationToken);
        Assert.That(await vm.MustAsync("modprobe ip_vs && ipvsadm -Ln | head -1", cancellationToken: cancellationToken), Does.StartWith("IP Virtual Server version"));
        Assert.That(await vm.MustAsync("uname -r", cancellationToken: cancellationToken), Does.Not.Contain(Environment.OSVersion.Version.ToString()));
        await vm.MustAsync($"exec 5<>/dev/tcp/10.0.2.2/{port} && echo hello >&5", cancellationToken: cancellationToken);
        using var client = await accepted.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        Assert.That(await new StreamReader(client.GetStream()).ReadLineAsync(cancellationToken), Is.EqualTo("hello"));

        var (exitCode, output) = await vm.RunAsync("echo to stderr >&2; exit 3", cancellationToken: cancellationToken);
        Assert.That((exitCode, output.Trim()), Is.EqualTo((3, "to stderr")));
        await File.WriteAllTextAsync(Path.Combine(vm.Results, "from-host"), "shared", cancellationToken);
        Assert.That(await vm.MustAsync($"cat {vm.Results}/from-host", cancellationToken: cancellationToken), Is.EqualTo("shared"));
    }
}
