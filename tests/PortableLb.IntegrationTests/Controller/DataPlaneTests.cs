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
            Assert.That(result.Unfinished, Is.False, "a sysctl that is off is reported, not retried");

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

    /// <summary>
    /// Two clients, each on its own link into the LB pod's namespace, and a Service that admits only the first one's
    /// network. A listener on the VIP stands where IPVS takes packets on a kernel with it (the input hook, after the
    /// filter's priority): this one has no IPVS.
    /// </summary>
    [Test]
    public async Task Only_the_source_ranges_reach_a_Service_and_removing_them_opens_it_again()
    {
        Daemons.Require("curl", "python3");
        await InNewNamespace(async lb =>
        {
            string[] clients = [$"{lb}-c1", $"{lb}-c2"];
            try
            {
                for (var i = 0; i < clients.Length; i++)
                {
                    var net = $"10.0.{i + 1}";
                    await Ip("netns", "add", clients[i]);
                    await Ip("-n", lb, "link", "add", $"c{i + 1}", "type", "veth", "peer", "name", "eth0", "netns", clients[i]);
                    await Ip("-n", lb, "addr", "add", $"{net}.1/24", "dev", $"c{i + 1}");
                    await Ip("-n", lb, "link", "set", $"c{i + 1}", "up");
                    await Ip("-n", clients[i], "addr", "add", $"{net}.2/24", "dev", "eth0");
                    await Ip("-n", clients[i], "link", "set", "eth0", "up");
                    await Ip("-n", clients[i], "route", "add", "default", "via", $"{net}.1");
                }
                var dataPlane = new DataPlane(new InNamespace(lb));
                var ranged = Snapshot("198.51.100.10", "  loadBalancerSourceRanges: [10.0.1.0/24]");
                await dataPlane.ApplyAsync(ranged, CancellationToken.None);
                using var listener = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ip",
                    ["netns", "exec", lb, "python3", "-m", "http.server", "80", "--bind", "198.51.100.10"])
                { RedirectStandardOutput = true, RedirectStandardError = true })!;
                try
                {
                    await Eventually.True(async () => await Get(clients[0]) == 0, "the listener answers the first client", () => "");
                    Assert.That(await Get(clients[1]), Is.EqualTo(28), "the second client's SYN is dropped: curl times out (exit 28), no reset");
                    var rules = (await new InNamespace(lb).RunAsync("nft", ["list", "chain", "inet", DataPlane.NftTable, "input"], null, TimeSpan.FromSeconds(10), CancellationToken.None)).StandardOutput;
                    Assert.That(rules, Does.Contain("ip daddr 198.51.100.10 tcp dport 80 ip saddr != 10.0.1.0/24 counter packets"));

                    await dataPlane.ApplyAsync(Snapshot("198.51.100.10", ""), CancellationToken.None);
                    Assert.That(await Get(clients[1]), Is.Zero, "without ranges every source reaches it");
                    Assert.That(await Get(clients[0]), Is.Zero);
                }
                finally
                {
                    listener.Kill();
                }
            }
            finally
            {
                foreach (var client in clients) await new ProcessRunner().RunAsync("ip", ["netns", "del", client], null, TimeSpan.FromSeconds(10), CancellationToken.None);
            }
        });

        static async Task<int> Get(string client) =>
            (await new ProcessRunner().RunAsync("ip", ["netns", "exec", client, "curl", "-s", "-o", "/dev/null", "-m", "2", "http://198.51.100.10/"], null, TimeSpan.FromSeconds(10), CancellationToken.None)).ExitCode;

        static DesiredState Snapshot(string address, string extraSpec) => DesiredStateBuilder.Build(PortableLb.Sources.ManifestReader.ReadText(
            $"apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default, annotations: {{portable-lb.io/addresses: \"{address}\"}}}}\n"
            + $"spec:\n  type: LoadBalancer\n  loadBalancerClass: portable-lb.io/ipvs\n  ports: [{{port: 80}}]\n{extraSpec}\n---\n"
            + "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n"
            + "addressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.244.1.1]}]\n", "test").Snapshot,
            PortableLb.Tuning.TuningSettings.Default, NodeAddresses.None).State;
    }

    [Test]
    public async Task Without_the_tools_every_step_becomes_a_warning_not_a_crash()
    {
        var dataPlane = new DataPlane(new MissingTools(), procSys: "/nonexistent");
        var result = await dataPlane.ApplyAsync(State("198.51.100.10", "203.0.113.0/24"), CancellationToken.None);
        Assert.That(result.Warnings, Has.Some.StartsWith("ip route replace local 198.51.100.10/32 dev lo proto 201").And.Some.StartsWith("nft:"));
        Assert.That(result.Unfinished, Is.True, "what did not go in is due again");
    }

    private sealed class MissingTools : IProcessRunner
    {
        public Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken) =>
            throw new MissingProgramException(program, new Win32ExceptionStandIn());
    }

    private sealed class Win32ExceptionStandIn() : Exception("No such file or directory");
}
