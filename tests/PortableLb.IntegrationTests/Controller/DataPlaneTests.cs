using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>The data plane applied for real, inside a network namespace the test creates and deletes.</summary>
[CancelAfter(60_000)]
public sealed class DataPlaneTests
{
    /// <summary>Runs every command inside the namespace, as the ipvs container runs in the LB pod's.</summary>
    private sealed class InNamespace(string ns) : IProcessRunner
    {
        private readonly ProcessRunner _inner = new();

        public Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken) =>
            _inner.RunAsync("ip", ["netns", "exec", ns, program, .. arguments], environment, timeout, cancellationToken);
    }

    private static async Task<string> Ip(params string[] arguments)
    {
        var result = await new ProcessRunner().RunAsync("ip", arguments, null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        return result.StandardOutput;
    }

    private static DesiredState State(params string[] annotations)
    {
        var yaml = string.Concat(annotations.Select((address, i) =>
            $"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: default, annotations: {{portable-lb.io/addresses: \"{address}\"}}}}\n"
            + "spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, ports: [{port: 80}]}\n---\n"
            + $"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: s{i}-1, namespace: default, labels: {{kubernetes.io/service-name: s{i}}}}}\n"
            + "addressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.244.1.1]}]\n---\n"));
        var snapshot = PortableLb.Sources.ManifestReader.ReadText(yaml, "test").Snapshot;
        return DesiredStateBuilder.Build(snapshot, PortableLb.Tuning.TuningSettings.Default, NodeAddresses.None).State;
    }

    /// <summary>A fresh network namespace with its loopback up, for the length of one test.</summary>
    private static async Task InNewNamespace(Func<string, Task> test)
    {
        Daemons.Require("ip", "nft");
        Daemons.RequireRoot();
        var ns = $"plb-dp-{Guid.NewGuid().ToString("N")[..8]}";
        await Ip("netns", "add", ns);
        try
        {
            await Ip("-n", ns, "link", "set", "lo", "up");
            await test(ns);
        }
        finally
        {
            await Ip("netns", "del", ns);
        }
    }

    [Test]
    public async Task Addresses_become_local_prefixes_get_marks_and_what_goes_away_is_removed()
    {
        await InNewNamespace(async ns =>
        {
            var dataPlane = new DataPlane(new InNamespace(ns));

            var both = State("198.51.100.10", "203.0.113.0/24");
            var result = await dataPlane.ApplyAsync(both, CancellationToken.None);
            var routes = await Ip("-n", ns, "route", "show", "table", "local");
            Assert.That(routes, Does.Contain("local 198.51.100.10 dev lo").And.Contain("local 203.0.113.0/24 dev lo"));
            var mark = both.PacketMarks.Single().Mark;
            var rules = (await new InNamespace(ns).RunAsync("nft", ["list", "table", "inet", DataPlane.NftTable], null, TimeSpan.FromSeconds(10), CancellationToken.None)).StandardOutput;
            Assert.That(rules, Does.Contain($"ip daddr 203.0.113.0/24 tcp dport 80 meta mark set 0x{mark:x8}"));
            // What IPVS NAT forwards to the real servers is masqueraded, so their replies come back through this pod.
            Assert.That(rules, Does.Contain("type nat hook postrouting priority srcnat; policy accept;").And.Contain("ip daddr 10.244.1.1 masquerade"));
            Assert.That(result.Warnings, Has.All.Match(@"^sysctl net\.ipv4\.(vs\.|ip_forward )"), "only sysctls can be missing (this test reads the host's)");

            await dataPlane.ApplyAsync(State("198.51.100.10"), CancellationToken.None);
            routes = await Ip("-n", ns, "route", "show", "table", "local");
            Assert.That(routes, Does.Contain("local 198.51.100.10 dev lo").And.Not.Contain("203.0.113.0/24"));
            rules = (await new InNamespace(ns).RunAsync("nft", ["list", "table", "inet", DataPlane.NftTable], null, TimeSpan.FromSeconds(10), CancellationToken.None)).StandardOutput;
            Assert.That(rules, Does.Not.Contain("meta mark set"));
        });
    }

    [Test]
    public async Task Only_routes_with_our_protocol_are_ever_removed_and_an_earlier_runs_are_cleaned_up()
    {
        await InNewNamespace(async ns =>
        {
            // Someone else's local route (the pod's own address, say) and one an earlier run of ours left behind.
            await Ip("-n", ns, "route", "add", "local", "198.51.100.77", "dev", "lo", "table", "local", "proto", "static");
            await Ip("-n", ns, "route", "add", "local", "198.51.100.99", "dev", "lo", "table", "local", "proto", DataPlane.RouteProtocol.ToString());

            var dataPlane = new DataPlane(new InNamespace(ns));
            await dataPlane.ApplyAsync(State("198.51.100.10"), CancellationToken.None);
            var routes = await Ip("-n", ns, "route", "show", "table", "local");
            Assert.That(routes, Does.Contain($"local 198.51.100.10 dev lo proto {DataPlane.RouteProtocol}"));
            Assert.That(routes, Does.Not.Contain("198.51.100.99"), "the earlier run's route is gone");
            Assert.That(routes, Does.Contain("local 198.51.100.77 dev lo proto static"), "a route that is not ours stays");

            await dataPlane.ApplyAsync(State(), CancellationToken.None);
            routes = await Ip("-n", ns, "route", "show", "table", "local");
            Assert.That(routes, Does.Not.Contain("198.51.100.10").And.Contain("198.51.100.77"));
        });
    }

    [Test]
    public async Task Without_the_tools_every_step_becomes_a_warning_not_a_crash()
    {
        var dataPlane = new DataPlane(new MissingTools(), procSys: "/nonexistent");
        var result = await dataPlane.ApplyAsync(State("198.51.100.10", "203.0.113.0/24"), CancellationToken.None);
        Assert.That(result.Warnings, Has.Some.StartsWith("ip route replace local 198.51.100.10/32 dev lo proto 201").And.Some.StartsWith("nft:"));
    }

    private sealed class MissingTools : IProcessRunner
    {
        public Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken) =>
            throw new MissingProgramException(program, new Win32ExceptionStandIn());
    }

    private sealed class Win32ExceptionStandIn() : Exception("No such file or directory");
}
