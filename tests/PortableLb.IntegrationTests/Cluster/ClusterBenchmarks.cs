using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace PortableLb.IntegrationTests.Cluster;

/// <summary>
/// Numbers from the cluster lab (<see cref="ClusterLab"/>), for docs/benchmarks.md: requests/s through PortableLb
/// against the same web pods reached directly and through a kube-proxy-like nft DNAT on a node, measured in one run;
/// event → IPVS in both LB pods; failed requests and broken long-lived connections during rolling restarts. It asserts
/// nothing about speed: the VM is emulated (TCG), so the ratios carry over and the absolute numbers do not.
///
///   sudo dotnet test tests/PortableLb.IntegrationTests -c Release --filter Category=ClusterBenchmark
/// </summary>
[Explicit("a benchmark, run by hand; its numbers go to docs/benchmarks.md")]
[Category("ClusterBenchmark")]
[NonParallelizable]
public sealed class ClusterBenchmarks
{
    private const int Rounds = 3;
    private const int Events = 20;
    private const string NodeDnatVip = "10.1.3.10";

    [Test]
    [CancelAfter(5_400_000)]
    public async Task Throughput_event_to_IPVS_and_rolling_restarts()
    {
        Daemons.RequireRoot();
        Daemons.Require("qemu-system-x86_64", "podman", "runc", "catatonit", "gobgpd", "gobgp", "vtysh", "nginx", "curl", "wrk", "python3");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(12));
        await using var lab = await ClusterLab.StartAsync(timeout.Token);
        var lb1 = await lab.StartLbPodAsync("lb1", ClusterLab.Nodes[0], "10.244.1.10", timeout.Token);
        var lb2 = await lab.StartLbPodAsync("lb2", ClusterLab.Nodes[1], "10.244.2.10", timeout.Token);
        await lab.StartRouteReflectorAsync();
        await lab.RouterSendsAsync(ClusterLab.Vip, [lb1.Node.Ip, lb2.Node.Ip], TimeSpan.FromMinutes(15));
        await lab.WaitAsync(() => Task.FromResult(lab.IsReady(lb1) && lab.IsReady(lb2)), "both LB pods ready", TimeSpan.FromMinutes(5));
        await lab.NodeSendsAsync(lb1.Node, [lb1.Ip], TimeSpan.FromMinutes(2));
        await lab.NodeSendsAsync(lb2.Node, [lb2.Ip], TimeSpan.FromMinutes(2));

        var output = new StringBuilder();
        output.AppendLine(await ThroughputAsync(lab));
        output.AppendLine(await EventToIpvsAsync(lab));
        foreach (var suffix in new[] { "b", "c" })
        {
            var report = await lab.RollingRestartAsync(suffix);
            output.AppendLine($"Rolling restart to *{suffix}: {report.Requests} new-connection requests, {report.Failed} failed; " +
                $"{report.LongLivedRequests} requests on 10 long-lived connections, {report.LongLivedBroken} broken");
            output.AppendLine(string.Join("\n", report.Steps.Select(s => "  " + s)));
            output.AppendLine(string.Join("\n", report.Raw.Split('\n').Where(l => l.StartsWith("long-break", StringComparison.Ordinal)).Select(l => "  " + l)));
        }
        await TestContext.Out.WriteLineAsync(output.ToString());
    }

    /// <summary>wrk from the client over three paths that end at the same two web pods, interleaved round by round.</summary>
    private static async Task<string> ThroughputAsync(ClusterLab lab)
    {
        var web = ClusterLab.WebPods;
        // kube-proxy's way for a LoadBalancer Service with externalTrafficPolicy: Cluster, on node1: DNAT to a random
        // endpoint and masquerade, so that replies come back through the node; the router sends that address to node1.
        await lab.MustAsync($$"""
            ip netns exec node1 nft -f - <<'NFT'
            table ip kube-proxy-like {
              chain prerouting { type nat hook prerouting priority -100; ip daddr {{NodeDnatVip}} tcp dport 80 dnat to numgen random mod 2 map { 0 : {{web[0].Ip}}, 1 : {{web[1].Ip}} }; }
              chain postrouting { type nat hook postrouting priority 100; ct status dnat ip daddr { {{web[0].Ip}}, {{web[1].Ip}} } masquerade; }
            }
            NFT
            ip -n router route add {{NodeDnatVip}}/32 via {{ClusterLab.Nodes[0].Ip}}
            """);
        var paths = new (string Name, string Url)[]
        {
            ("direct to a web pod", $"http://{web[0].Ip}/"),
            ("PortableLb (ECMP over 2 LB pods, IPVS NAT)", $"http://{ClusterLab.Vip}/"),
            ("nft DNAT on one node (kube-proxy-like)", $"http://{NodeDnatVip}/"),
        };
        var results = paths.ToDictionary(p => p.Name, _ => new List<double>());
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var (name, url) in paths)
            {
                var wrk = await lab.MustAsync($"ip netns exec client wrk -t2 -c32 -d10s {url}", TimeSpan.FromMinutes(2));
                if (wrk.Contains("Socket errors", StringComparison.Ordinal) || wrk.Contains("Non-2xx", StringComparison.Ordinal)) Assert.Fail($"{name}: errors during the round\n{wrk}");
                var line = wrk.Split('\n').Single(l => l.StartsWith("Requests/sec:", StringComparison.Ordinal));
                results[name].Add(double.Parse(line["Requests/sec:".Length..].Trim(), CultureInfo.InvariantCulture));
            }
        }
        var direct = Median(results[paths[0].Name]);
        var table = new StringBuilder("Throughput, wrk -t2 -c32 -d10s from the client, requests/s:\n\n| path | rounds | median | vs direct |\n| --- | --- | ---: | ---: |\n");
        foreach (var (name, _) in paths)
        {
            var rounds = results[name];
            table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {string.Join(" · ", rounds.Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))} | {Median(rounds):N0} | {Median(rounds) / direct:P0} |");
        }
        return table.ToString();
    }

    /// <summary>
    /// An EndpointSlice change at the API server until both LB pods' kernel IPVS tables show it in the VIP's virtual
    /// server (`ipvsadm -Ln -t VIP:80` in each pod's network namespace, polled every 20 ms in the guest; the thesis'
    /// fwmark Service keeps the same web pod), alternately removing and adding a web pod. Timed here, so each sample
    /// includes one round trip into the VM: an upper bound.
    /// </summary>
    /// <remarks>
    /// This check once grepped `&lt;(ip netns exec … cat /proc/net/ip_vs)`, and the guest had no /dev/fd: it never saw
    /// the address, so every removal passed at once and the first re-add timed out, which read as a keepalived that
    /// did not re-add a real server after traffic. The pods' ipvsadm showed it there all along.
    /// </remarks>
    private static async Task<string> EventToIpvsAsync(ClusterLab lab)
    {
        var web = ClusterLab.WebPods;
        var pods = string.Join(" ", lab.LbPods.Select(p => p.Name));
        var samples = new List<double>();
        for (var i = 0; i < Events; i++)
        {
            var present = i % 2 == 1;
            var clock = Stopwatch.StartNew();
            lab.SetEndpoints("web", present ? web.Select(w => w.Ip) : [web[0].Ip]);
            var (exitCode, output) = await lab.RunAsync($$"""
                shows() { for p in {{pods}}; do if prints ' {{web[1].Ip}}:80 ' ip netns exec $p ipvsadm -Ln -t {{ClusterLab.Vip}}:80; then [ {{(present ? "1" : "0")}} = 1 ] || return 1; else [ {{(present ? "1" : "0")}} = 0 ] || return 1; fi; done; }
                wait_ms 240 shows
                """, TimeSpan.FromMinutes(5));
            if (exitCode != 0) Assert.Fail($"event {i + 1} ({(present ? "adding" : "removing")} {web[1].Ip}) not in both IPVS tables within 240 s: {output}\n{await lab.DiagnosticsAsync()}");
            samples.Add(clock.Elapsed.TotalMilliseconds);
            await Task.Delay(1000);
        }
        var inOrder = string.Join(" ", samples.Select(s => s.ToString("0", CultureInfo.InvariantCulture)));
        // A slow event is worth its logs: the number alone does not say whether the controller or keepalived waited.
        var slow = samples.Max() > 10_000 ? "Slowest event's surroundings:\n" + await lab.DiagnosticsAsync() + "\n" : "";
        samples.Sort();
        return slow + $"Event → IPVS samples in order, ms: {inOrder}\n" + $"Event → IPVS in both LB pods, {Events} events, ms: min {samples[0]:0}, median {Median(samples):0}, p90 {samples[(int)(0.9 * (samples.Count - 1))]:0}, max {samples[^1]:0}\n";
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
