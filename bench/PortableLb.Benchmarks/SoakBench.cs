using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace PortableLb.Benchmarks;

/// <summary>
/// The churn soak: `portable-lb run` against a manifest folder that changes `changesPerMinute` times a minute for
/// `minutes`, with stand-in keepalived and exabgp (StandIns/daemon.py) that take real time to reload and count any
/// reload signal arriving while the previous reload is still in progress. Every 20th change also toggles a second
/// Service between serving and not, so exabgp is reloaded too. Reports RSS over time and the reload counts; exits 1
/// if a daemon ever had two reloads in flight, got a forbidden signal, or the last state never reached the disk.
/// </summary>
public static class SoakBench
{
    private const int Endpoints = 1_000;
    private static readonly TimeSpan Warmup = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(double minutes, int changesPerMinute)
    {
        var root = Directory.CreateTempSubdirectory("portable-lb-soak-").FullName;
        var standIns = new List<Process>();
        Process? run = null;
        try
        {
            var objects = Directory.CreateDirectory(Path.Combine(root, "objects")).FullName;
            var runDir = Directory.CreateDirectory(Path.Combine(root, "run")).FullName;
            var cluster = Path.Combine(objects, "cluster.yaml");
            var toggled = Path.Combine(objects, "toggled.yaml");
            await File.WriteAllTextAsync(cluster, SyntheticCluster.Manifests(Endpoints));
            await File.WriteAllTextAsync(toggled, ToggledService(serving: true));
            await File.WriteAllTextAsync(Path.Combine(root, "tuning.yaml"), SyntheticCluster.Tuning);
            standIns.Add(StartStandIn("keepalived", root, runDir, reloadSeconds: 0.03));
            standIns.Add(StartStandIn("exabgp", root, runDir, reloadSeconds: 0.15));
            await RunBench.WaitAsync(() => File.Exists(Path.Combine(runDir, "keepalived.pid")) && File.Exists(Path.Combine(runDir, "exabgp.pid")));

            var port = FreePort();
            run = ControllerCommand.Start(["--objects", objects, "--tuning", Path.Combine(root, "tuning.yaml"), "--node-ip", "198.18.255.1",
                "--pod-ip", "198.18.254.1", "--config-dir", runDir, "--listen", $"127.0.0.1:{port}", "--data-plane", "off",
                "--keepalived", "pidfile", "--keepalived-pidfile", Path.Combine(runDir, "keepalived.pid"),
                "--exabgp-pidfile", Path.Combine(runDir, "exabgp.pid"), "--exabgp-log", Path.Combine(runDir, "exabgp.log")]);
            var ipvs = Path.Combine(runDir, "ipvs.conf");
            await RunBench.WaitAsync(() => File.Exists(ipvs));

            var samples = new List<(TimeSpan At, long RssKiB)>();
            var clock = Stopwatch.StartNew();
            var duration = TimeSpan.FromMinutes(minutes);
            var interval = TimeSpan.FromMinutes(1) / changesPerMinute;
            var changes = 0;
            var nextSample = TimeSpan.Zero;
            while (clock.Elapsed < duration)
            {
                if (run.HasExited) throw new InvalidOperationException($"portable-lb run exited with {run.ExitCode} during the soak");
                changes++;
                await File.WriteAllTextAsync(cluster, SyntheticCluster.Manifests(Endpoints, generation: changes));
                if (changes % 20 == 0) await File.WriteAllTextAsync(toggled, ToggledService(serving: changes % 40 == 0));
                if (clock.Elapsed >= nextSample)
                {
                    samples.Add((clock.Elapsed, ControllerCommand.RssKiB(run.Id)));
                    nextSample += SampleEvery;
                }
                var due = interval * changes;
                if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
            }
            var lastEndpoint = LastMovedEndpoint(changes);
            await RunBench.WaitAsync(() => File.ReadAllText(ipvs).Contains($"real_server {lastEndpoint} 8080", StringComparison.Ordinal));
            await Task.Delay(TimeSpan.FromSeconds(3));
            samples.Add((clock.Elapsed, ControllerCommand.RssKiB(run.Id)));
            var metrics = await new HttpClient().GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));

            // SIGTERM makes the stand-ins write their counts.
            var signals = new PortableLb.Apply.LibcSignalSender();
            signals.Send(new(PortableLb.Apply.Daemon.Keepalived, standIns[0].Id), PortableLb.Apply.Signal.Terminate);
            signals.Send(new(PortableLb.Apply.Daemon.Exabgp, standIns[1].Id), PortableLb.Apply.Signal.Terminate);
            foreach (var standIn in standIns) await standIn.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            var keepalived = ReadStats(runDir, "keepalived");
            var exabgp = ReadStats(runDir, "exabgp");
            return Report(minutes, changes, clock.Elapsed, samples, keepalived, exabgp, metrics);
        }
        finally
        {
            if (run is { HasExited: false }) run.Kill(entireProcessTree: true);
            run?.Dispose();
            foreach (var standIn in standIns.Where(p => !p.HasExited)) standIn.Kill();
            foreach (var standIn in standIns) standIn.Dispose();
            Directory.Delete(root, recursive: true);
        }
    }

    private static int Report(double minutes, int changes, TimeSpan elapsed, List<(TimeSpan At, long RssKiB)> samples,
        Dictionary<string, int> keepalived, Dictionary<string, int> exabgp, string metrics)
    {
        static double MiB(long kib) => kib / 1024.0;
        var settled = samples.Where(s => s.At >= Warmup).ToList();
        var baseline = settled.Count > 0 ? settled[0] : samples[0];
        var end = samples[^1];
        var growth = MiB(end.RssKiB - baseline.RssKiB);
        // The least-squares slope over the settled samples: a leak shows as a steady climb, GC sawtooth does not.
        var slope = Slope(settled.Count >= 2 ? settled : samples);
        Console.WriteLine($"`portable-lb run` as the {ControllerCommand.Describe()}; {Endpoints:N0} endpoints in 10 Services plus one toggled Service");
        Console.WriteLine();
        Console.WriteLine("| measure | value |");
        Console.WriteLine("|---|---:|");
        Console.WriteLine($"| duration | {elapsed.TotalMinutes:0.0} min |");
        Console.WriteLine($"| changes written | {changes:N0} ({changes / elapsed.TotalMinutes:0} per minute) |");
        Console.WriteLine($"| reconciles applied | {MetricValue(metrics, "portable_lb_reconciles_total{result=\"applied\"}")} |");
        Console.WriteLine($"| keepalived reloads / signals during a reload | {keepalived["reloads"]:N0} / {keepalived["overlapping_signals"]} |");
        Console.WriteLine($"| exabgp reloads / signals during a reload / SIGHUPs | {exabgp["reloads"]:N0} / {exabgp["overlapping_signals"]} / {exabgp["forbidden_signals"]} |");
        Console.WriteLine($"| RSS at {baseline.At.TotalMinutes:0.0} min (after warm-up) | {MiB(baseline.RssKiB):0.0} MiB |");
        Console.WriteLine($"| RSS at the end | {MiB(end.RssKiB):0.0} MiB |");
        Console.WriteLine($"| RSS min / max after warm-up | {MiB(settled.DefaultIfEmpty(end).Min(s => s.RssKiB)):0.0} / {MiB(settled.DefaultIfEmpty(end).Max(s => s.RssKiB)):0.0} MiB |");
        Console.WriteLine($"| growth, end − warm-up | {growth:+0.0;-0.0} MiB |");
        Console.WriteLine($"| trend (least squares) | {slope * 10:+0.00;-0.00} MiB per 10 min |");
        var violations = keepalived["overlapping_signals"] + exabgp["overlapping_signals"] + exabgp["forbidden_signals"];
        Console.WriteLine();
        Console.WriteLine(violations == 0 ? "never two reloads in flight for one daemon" : $"VIOLATION: {violations} reload signals arrived during a reload or were forbidden");
        return violations == 0 ? 0 : 1;
    }

    private static double Slope(List<(TimeSpan At, long RssKiB)> samples)
    {
        var xs = samples.Select(s => s.At.TotalMinutes).ToList();
        var ys = samples.Select(s => s.RssKiB / 1024.0).ToList();
        var (mx, my) = (xs.Average(), ys.Average());
        var denominator = xs.Sum(x => (x - mx) * (x - mx));
        return denominator == 0 ? 0 : xs.Zip(ys).Sum(p => (p.First - mx) * (p.Second - my)) / denominator;
    }

    private static string MetricValue(string metrics, string series) =>
        metrics.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))?[(series.Length + 1)..] ?? "?";

    /// <summary>The address SyntheticCluster gives svc-0's first endpoint at a generation.</summary>
    private static string LastMovedEndpoint(int generation)
    {
        var host = generation * (Endpoints / SyntheticCluster.Services) % 65_000;
        return $"10.1.{host / 250}.{host % 250 + 1}";
    }

    private static string ToggledService(bool serving) => $$$"""
        apiVersion: v1
        kind: Service
        metadata: {name: toggled, namespace: bench}
        spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 198.18.1.1, ports: [{name: http, port: 80}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: toggled-0, namespace: bench, labels: {kubernetes.io/service-name: toggled} }
        addressType: IPv4
        ports: [{name: http, port: 8080}]
        endpoints:
          - addresses: [10.200.0.1]
            conditions: {ready: {{{Flag(serving)}}}, serving: {{{Flag(serving)}}}, terminating: false}
        """;

    private static string Flag(bool value) => value ? "true" : "false";

    /// <summary>The stand-in runs under the daemon's own name, so /proc/PID/comm matches what the controller checks.</summary>
    private static Process StartStandIn(string daemon, string root, string runDir, double reloadSeconds)
    {
        var bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
        var script = Path.Combine(bin, daemon);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "StandIns", "daemon.py"), script);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return Process.Start(new ProcessStartInfo(script, [daemon, runDir, reloadSeconds.ToString(CultureInfo.InvariantCulture)]))!;
    }

    private static Dictionary<string, int> ReadStats(string runDir, string daemon) =>
        JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(runDir, $"{daemon}.stats")))!;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
