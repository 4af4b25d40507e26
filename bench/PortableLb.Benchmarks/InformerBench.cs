using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Testing.FakeApi;
using PortableLb.Kubernetes;
using PortableLb.Sources;

namespace PortableLb.Benchmarks;

/// <summary>
/// The Kubernetes source against the fake API server on loopback: how long from the server applying a change to the
/// snapshot being marked dirty, and what the cache of 10,000 endpoints costs in memory.
/// </summary>
public static class InformerBench
{
    public static async Task<int> RunAsync(int events)
    {
        await using var server = await FakeApiServer.StartAsync();
        server.Store.Apply(Resources.Services, TestObjects.Service("big"));
        for (var s = 0; s < 100; s++) server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice($"big-{s}", "big", 100, firstHost: s * 100 + 1));

        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var rssBefore = Environment.WorkingSet;
        using var client = new KubernetesClient(server.Connection());
        var source = new KubernetesSource(client, new KubernetesSourceOptions("default", null, null), NullLoggerFactory.Instance);
        using var stop = new CancellationTokenSource();
        var running = source.RunAsync(stop.Token);
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        var snapshot = source.Snapshot();
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        var rssAfter = Environment.WorkingSet;
        GC.KeepAlive(snapshot);
        await source.Changes.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        var latencies = new List<double>(events);
        var clock = new Stopwatch();
        for (var i = 0; i < events; i++)
        {
            var s = i % 100;
            var slice = TestObjects.Slice($"big-{s}", "big", 100 - (i / 100 % 2), firstHost: s * 100 + 1);
            clock.Restart();
            server.Store.Apply(Resources.EndpointSlices, slice);
            if (!await source.Changes.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None)) throw new TimeoutException($"event {i} never marked the snapshot dirty");
            latencies.Add(clock.Elapsed.TotalMilliseconds);
        }
        await stop.CancelAsync();
        await running;

        latencies.Sort();
        double At(double p) => latencies[(int)Math.Min(latencies.Count - 1, Math.Ceiling(p * latencies.Count) - 1)];
        Console.WriteLine("| measure | value |");
        Console.WriteLine("|---|---:|");
        Console.WriteLine($"| events | {events:N0} |");
        Console.WriteLine($"| server write → snapshot dirty, median | {At(0.50):0.000} ms |");
        Console.WriteLine($"| server write → snapshot dirty, p99 | {At(0.99):0.000} ms |");
        Console.WriteLine($"| server write → snapshot dirty, max | {latencies[^1]:0.000} ms |");
        Console.WriteLine($"| managed heap growth for the 10k-endpoint cache | {(heapAfter - heapBefore) / 1048576.0:0.0} MiB |");
        Console.WriteLine($"| RSS growth while listing and caching 10k endpoints | {(rssAfter - rssBefore) / 1048576.0:0.0} MiB |");
        return 0;
    }
}
