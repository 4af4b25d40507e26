using System.Diagnostics;
using PortableLb.Common;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>
/// `portable-lb node-routes` for real, inside a network namespace standing in for a node: a pod bridge with the
/// node's pod CIDR, LB pods on it, and the routes the command keeps in the node's main table.
/// </summary>
[CancelAfter(90_000)]
public sealed class NodeRoutesCommandTests
{
    private string _root = "";
    private string _ns = "";

    private static async Task<string> Ip(params string[] arguments)
    {
        var result = await new ProcessRunner().RunAsync("ip", arguments, null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That(result.ExitCode, Is.Zero, result.StandardError);
        return result.StandardOutput;
    }

    private static string Pod(string name, string ip, bool ready, bool terminating = false) =>
        "apiVersion: v1\nkind: Pod\n"
        + $"metadata: {{name: {name}, namespace: default, labels: {{app.kubernetes.io/name: portable-lb}}{(terminating ? ", deletionTimestamp: \"2026-12-01T07:00:30Z\", deletionGracePeriodSeconds: 30" : "")}}}\n"
        + $"spec: {{nodeName: node-1}}\nstatus: {{podIP: {ip}, conditions: [{{type: Ready, status: \"{(ready ? "True" : "False")}\"}}]}}\n---\n";

    private const string Web = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
        + "spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 198.51.100.10, ports: [{port: 80}]}\n";

    [SetUp]
    public async Task Setup()
    {
        Daemons.Require("ip");
        Daemons.RequireRoot();
        _root = Directory.CreateTempSubdirectory("portable-lb-node-routes-").FullName;
        _ns = $"plb-node-{Guid.NewGuid().ToString("N")[..8]}";
        await Ip("netns", "add", _ns);
        await Ip("-n", _ns, "link", "set", "lo", "up");
        // The node's pod bridge (cni0) with its pod CIDR: the LB pods' addresses are on-link behind it.
        await Ip("-n", _ns, "link", "add", "cni0", "type", "bridge");
        await Ip("-n", _ns, "addr", "add", "10.244.1.1/24", "dev", "cni0");
        await Ip("-n", _ns, "link", "set", "cni0", "up");
    }

    [TearDown]
    public async Task Cleanup()
    {
        await Ip("netns", "del", _ns);
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>The node's pin table as nft lists it; empty while there is none.</summary>
    private async Task<string> PinTable() =>
        (await new ProcessRunner().RunAsync("ip", ["netns", "exec", _ns, "nft", "list", "table", "inet", "portable_lb_node"], null, TimeSpan.FromSeconds(10), CancellationToken.None)).StandardOutput;

    private async Task<int> OurRules() =>
        System.Text.Json.JsonDocument.Parse(await Ip("-n", _ns, "-j", "rule", "show")).RootElement.EnumerateArray()
            .Count(r => r.TryGetProperty("protocol", out var p) && p.GetString() == "201");

    private async Task<string> OurRoutes() => await Ip("-n", _ns, "route", "show", "table", "main", "proto", "201");

    [TestCase("0x0f0f0000", "--flow-mark-mask: 0x0f0f0000 is not one run of contiguous bits")]
    [TestCase("marks", "--flow-mark-mask: \"marks\" is not a 32-bit mask")]
    public async Task A_flow_mark_mask_that_is_not_one_run_of_bits_is_refused(string mask, string error)
    {
        var result = await new ProcessRunner().RunAsync(Program[0], [.. Program[1..], "node-routes", "--node-name", "node-1", "--objects", _root, "--flow-mark-mask", mask],
            null, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.That(result.ExitCode, Is.EqualTo(2), result.StandardError);
        Assert.That(result.StandardError, Does.Contain(error));
    }

    private static string[] Program => ControllerProcess.PublishedBinary is { } binary
        ? [binary]
        : [Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "portable-lb.dll")];

    [TestCase(true, TestName = "node-routes routes each served address to its ready LB pods, follows them, and pins their connections")]
    [TestCase(false, TestName = "node-routes without pins routes each served address to its ready LB pods and drains a deleted one")]
    public async Task The_node_routes_each_served_address_to_its_ready_LB_pods_and_follows_them(bool pins)
    {
        // A route an earlier run left behind, and one that is not ours at all.
        await Ip("-n", _ns, "route", "add", "198.51.100.99", "via", "10.244.1.9", "proto", "201");
        await Ip("-n", _ns, "route", "add", "198.51.100.77", "via", "10.244.1.9", "proto", "static");
        var objects = Directory.CreateDirectory(Path.Combine(_root, "objects")).FullName;
        await File.WriteAllTextAsync(Path.Combine(objects, "web.yaml"), Web);
        await File.WriteAllTextAsync(Path.Combine(objects, "pods.yaml"), Pod("lb-a", "10.244.1.5", true) + Pod("lb-b", "10.244.1.6", true) + Pod("lb-c", "10.244.1.7", false));

        var output = new List<string>();
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "netns", "exec", _ns }.Concat(Program).Concat(["node-routes", "--node-name", "node-1", "--objects", objects, "--listen", "127.0.0.1:0", "--flow-mark-mask", pins ? "0x0f000000" : "0"]))
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string Log()
        {
            lock (output) return string.Join("\n", output);
        }
        try
        {
            // One apply both adds the multipath route and removes the earlier run's: wait for the end of it, not its middle.
            await Eventually.True(async () => await OurRoutes() is var now && now.Contains("nexthop via 10.244.1.6", StringComparison.Ordinal) && !now.Contains("198.51.100.99", StringComparison.Ordinal),
                "the multipath route, and the earlier run's route gone", Log);
            var routes = await OurRoutes();
            Assert.That(routes, Does.StartWith("198.51.100.10 ").And.Contain("nexthop via 10.244.1.5 dev cni0").And.Not.Contain("10.244.1.7"));
            Assert.That(routes, Does.Not.Contain("198.51.100.99"), "the earlier run's route is removed");
            Assert.That(await Ip("-n", _ns, "route", "show", "198.51.100.77"), Does.Contain("proto static"), "a route that is not ours stays");
            if (pins)
            {
                // Every LB pod on the node is pinned, the one that is not ready too: it may have been, and hold connections.
                // The rules go in before the nft table, in the same pass: wait for the table.
                await Eventually.True(async () => await PinTable() is var table
                    && table.Contains("rt ip nexthop 10.244.1.5", StringComparison.Ordinal) && table.Contains("rt ip nexthop 10.244.1.6", StringComparison.Ordinal)
                    && table.Contains("rt ip nexthop 10.244.1.7", StringComparison.Ordinal), "the pins' nft table, with every LB pod", Log);
                Assert.That(await OurRules(), Is.EqualTo(3), "a pin (rule of ours) per LB pod");
            }

            // lb-a is deleted (a rolling update). With pins it leaves the route at once and keeps its connections;
            // without, it drains beside lb-b with the least weight, then leaves.
            await File.WriteAllTextAsync(Path.Combine(objects, "pods.yaml"), Pod("lb-a", "10.244.1.5", true, terminating: true) + Pod("lb-b", "10.244.1.6", true));
            var clock = Stopwatch.StartNew();
            if (!pins) await Eventually.True(async () => (await OurRoutes()).Contains("nexthop via 10.244.1.5 dev cni0 weight 1 ", StringComparison.Ordinal), "lb-a draining", Log);
            var drained = false;
            await Eventually.True(async () =>
            {
                var now = await OurRoutes();
                drained |= now.Contains("via 10.244.1.5 dev cni0 weight 1 ", StringComparison.Ordinal);
                return !now.Contains("10.244.1.5", StringComparison.Ordinal);
            }, "lb-a to leave the route", Log);
            if (pins)
            {
                // Sampled the whole way (each `ip route` a few ms apart), the route never held lb-a at the least weight.
                Assert.That(drained, Is.False, "no drain: pinned connections keep lb-a without it");
                // lb-c's pin goes in the same pass, after the route, and the nft table last: wait for the table.
                await Eventually.True(async () => await PinTable() is var table && table.Contains("rt ip nexthop 10.244.1.5", StringComparison.Ordinal)
                    && !table.Contains("10.244.1.7", StringComparison.Ordinal), "lb-a, out of the route but still on the node, to keep its pin; lb-c, gone, not", Log);
                Assert.That(await OurRules(), Is.EqualTo(2), "and the rules with it");
            }
            else
            {
                Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(5)), "it drained for its drain time");
                Assert.That(await OurRules(), Is.Zero, "no pins");
                Assert.That(await PinTable(), Is.Empty, "no table");
            }
            await File.WriteAllTextAsync(Path.Combine(objects, "pods.yaml"), Pod("lb-a", "10.244.1.5", true) + Pod("lb-b", "10.244.1.6", true));
            await Eventually.True(async () => (await OurRoutes()).Contains("10.244.1.5", StringComparison.Ordinal), "lb-a back", Log);

            // lb-b stops being ready: its next hop goes.
            await File.WriteAllTextAsync(Path.Combine(objects, "pods.yaml"), Pod("lb-a", "10.244.1.5", true) + Pod("lb-b", "10.244.1.6", false));
            await Eventually.True(async () => await OurRoutes() is var now && now.StartsWith("198.51.100.10 ", StringComparison.Ordinal) && now.Contains("via 10.244.1.5 dev cni0", StringComparison.Ordinal) && !now.Contains("10.244.1.6", StringComparison.Ordinal),
                "lb-b's next hop to go", Log);
            Assert.That(Log(), Does.Contain("through resilient nexthop groups"), "this kernel has them");

            // The Service goes: so does its route.
            File.Delete(Path.Combine(objects, "web.yaml"));
            await Eventually.True(async () => (await OurRoutes()).Trim().Length == 0, "the route to go with its Service", Log);
            Assert.That(process.HasExited, Is.False, Log());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
