using System.Diagnostics;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;

namespace PortableLb.Benchmarks;

/// <summary>
/// The controller's reconcile after one endpoint changed, with the real keepalived -t and exabgp --test, real atomic
/// writes, and reloads recorded instead of signalled; and the resident memory of a running `portable-lb run`.
/// </summary>
public static class RunBench
{
    private sealed class CountingReloader : IDaemonReloader
    {
        public int Reloads { get; private set; }

        public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
        {
            Reloads++;
            return Task.FromResult(ReloadResult.Signalled);
        }
    }

    public static async Task<int> LatencyAsync(int events)
    {
        var node = new NodeAddresses(System.Net.IPAddress.Parse("198.18.255.1"), null, System.Net.IPAddress.Parse("198.18.254.1"), null);
        var tuning = TuningParser.Parse(SyntheticCluster.Tuning, "bench").Tuning!;
        Console.WriteLine("| endpoints | events | median | p99 | max | median of: build + render / validate / write / reload |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---|");
        foreach (var size in new[] { 10, 1_000, 10_000 })
        {
            var folder = Directory.CreateTempSubdirectory("portable-lb-run-bench-").FullName;
            try
            {
                var runner = new ProcessRunner();
                var reloader = new CountingReloader();
                // The validators `run` has: keepalived -t once per shape of virtual servers, as an endpoint churn sees it.
                var (keepalived, exabgp) = RememberingValidators.Create(runner);
                var reconciler = new Reconciler(TemplateSet.Embedded(), keepalived, exabgp, reloader, new ConfigFiles(folder));
                var snapshots = new[]
                {
                    ManifestReader.ReadText(SyntheticCluster.Manifests(size), "bench").Snapshot,
                    ManifestReader.ReadText(SyntheticCluster.Manifests(size, generation: 1), "bench").Snapshot,
                };
                // Both states once, untimed: the daemons' first verdict on each shape is the cold start's cost, not an event's.
                await reconciler.ReconcileAsync(snapshots[0], tuning, node, null, ServingFacts.Ungated, CancellationToken.None);
                await reconciler.ReconcileAsync(snapshots[1], tuning, node, null, ServingFacts.Ungated, CancellationToken.None);
                var times = new List<double>();
                var phases = new List<(double Render, double Validate, double Write, double Reload)>();
                for (var i = 0; i < events; i++)
                {
                    var clock = Stopwatch.StartNew();
                    var outcome = await reconciler.ReconcileAsync(snapshots[i % 2], tuning, node, null, ServingFacts.Ungated, CancellationToken.None);
                    times.Add(clock.Elapsed.TotalMilliseconds);
                    phases.Add((outcome.RenderDuration.TotalMilliseconds, outcome.Phases.Validate.TotalMilliseconds, outcome.Phases.Write.TotalMilliseconds, outcome.Phases.Reload.TotalMilliseconds));
                    if (outcome.Result != ReconcileResult.Applied) throw new InvalidOperationException($"event {i}: {outcome.Result} {string.Join("; ", outcome.Failures)}");
                }
                times.Sort();
                Console.WriteLine($"| {size:N0} | {events} | {times[times.Count / 2]:0.0} ms | {times[(int)Math.Ceiling(0.99 * times.Count) - 1]:0.0} ms | {times[^1]:0.0} ms | {Median(phases.Select(p => p.Render)):0.0} / {Median(phases.Select(p => p.Validate)):0.0} / {Median(phases.Select(p => p.Write)):0.0} / {Median(phases.Select(p => p.Reload)):0.0} ms |");
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        return 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    public static async Task<int> MemoryAsync()
    {
        Console.WriteLine($"`portable-lb run` as the {ControllerCommand.Describe()}");
        Console.WriteLine();
        Console.WriteLine("| endpoints | start → first apply (ipvs.conf written, both daemons' checks included) | RSS of `portable-lb run` after its first apply | after 50 more changes |");
        Console.WriteLine("|---:|---:|---:|---:|");
        foreach (var size in new[] { 1_000, 10_000 })
        {
            var folder = Directory.CreateTempSubdirectory("portable-lb-run-rss-").FullName;
            Process? run = null;
            try
            {
                var objects = Directory.CreateDirectory(Path.Combine(folder, "objects")).FullName;
                var manifest = Path.Combine(objects, "cluster.yaml");
                await File.WriteAllTextAsync(manifest, SyntheticCluster.Manifests(size));
                await File.WriteAllTextAsync(Path.Combine(folder, "tuning.yaml"), SyntheticCluster.Tuning);
                var started = Stopwatch.StartNew();
                run = ControllerCommand.Start(["--objects", objects, "--tuning", Path.Combine(folder, "tuning.yaml"), "--node-ip", "198.18.255.1",
                    "--pod-ip", "198.18.254.1", "--config-dir", folder, "--listen", "127.0.0.1:0", "--data-plane", "off",
                    "--keepalived-pidfile", Path.Combine(folder, "k.pid"), "--exabgp-pidfile", Path.Combine(folder, "e.pid")]);
                var ipvs = Path.Combine(folder, "ipvs.conf");
                await WaitAsync(() => File.Exists(ipvs));
                var firstApply = started.Elapsed;
                await Task.Delay(TimeSpan.FromSeconds(2));
                var first = ControllerCommand.Rss(run.Id);
                for (var g = 1; g <= 50; g++)
                {
                    var before = File.GetLastWriteTimeUtc(ipvs);
                    await File.WriteAllTextAsync(manifest, SyntheticCluster.Manifests(size, generation: g));
                    await WaitAsync(() => File.GetLastWriteTimeUtc(ipvs) != before);
                }
                await Task.Delay(TimeSpan.FromSeconds(2));
                Console.WriteLine($"| {size:N0} | {firstApply.TotalMilliseconds:0} ms | {first} | {ControllerCommand.Rss(run.Id)} |");
            }
            finally
            {
                if (run is { HasExited: false }) run.Kill(entireProcessTree: true);
                run?.Dispose();
                Directory.Delete(folder, recursive: true);
            }
        }
        return 0;
    }

    internal static async Task WaitAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("portable-lb run did not apply in time");
            await Task.Delay(10);
        }
    }
}
