using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Kubernetes;
using PortableLb.Model;
using PortableLb.Testing.FakeApi;

namespace PortableLb.Benchmarks;

/// <summary>
/// Seed 004 (Nguyen and Kim) reproduced: how many VIPs each LB pod is master of when every VIP elects its master
/// with a Lease race, Kubernetes-style (the first candidate to take the Lease wins; kube-vip's per-Service leases), and
/// when every pod computes <see cref="MasterAssignment"/>. The race runs for real: each pod is a client of its own
/// against the fake API server, all pods start every VIP's client-go elector within a few milliseconds, and the server decides who
/// created the Lease first.
/// </summary>
public static class MasterPlacementBench
{
    public static async Task<int> RunAsync(int vips, int pods, int trials)
    {
        var race = new List<int[]>();
        var ours = new List<int[]>();
        var random = new Random(2020);
        var clock = Stopwatch.StartNew();
        await using (var server = await FakeApiServer.StartAsync())
        {
            for (var trial = 0; trial < trials; trial++)
            {
                race.Add(await RaceAsync(server, trial, vips, pods));
            }
        }
        var raceTime = clock.Elapsed;
        for (var trial = 0; trial < trials; trial++)
        {
            // Each trial a new cluster: pods and nodes with new random names, new VIPs.
            var members = Enumerable.Range(0, pods).Select(i =>
            {
                var suffix = random.Next().ToString("x", CultureInfo.InvariantCulture);
                return new L2Member($"portable-lb-{suffix}", $"node-{suffix}", IPAddress.Parse($"10.0.{i / 250}.{i % 250 + 1}"));
            }).ToList();
            var addresses = Enumerable.Range(0, vips).Select(i => IPAddress.Parse($"192.{random.Next(256)}.{i / 250}.{i % 250 + 1}")).ToList();
            var orders = MasterAssignment.Assign(addresses, members);
            ours.Add(members.Select(m => orders.Count(o => o.Master == m)).OrderDescending().ToArray());
        }

        Console.WriteLine($"{vips} VIPs on {pods} LB pods, {trials} trials (the Lease race took {raceTime.TotalSeconds:F1} s in all)");
        Console.WriteLine($"  Lease race, masters per pod (mean, sorted): {Means(race)}; max − min ≤ 1 in {race.Count(Balanced)} of {trials} trials, worst {race.Max(Spread)}");
        Console.WriteLine($"  MasterAssignment:                          {Means(ours)}; max − min ≤ 1 in {ours.Count(Balanced)} of {trials} trials, worst {ours.Max(Spread)}");
        if (vips == 5 && pods == 3) Console.WriteLine("  seed 004 (Kubernetes leader election, 100 trials): 2.78 : 1.52 : 0.7");
        return ours.All(Balanced) ? 0 : 1;
    }

    /// <summary>One trial of the race: every pod runs an elector per VIP on the trial's own Leases until each Lease has a holder.</summary>
    private static async Task<int[]> RaceAsync(FakeApiServer server, int trial, int vips, int pods)
    {
        var clients = Enumerable.Range(0, pods).Select(_ => new KubernetesClient(server.Connection())).ToList();
        using var stop = new CancellationTokenSource();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var electors = new List<(int Pod, LeaderElector Elector, Task Run)>();
        try
        {
            for (var pod = 0; pod < pods; pod++)
            {
                for (var vip = 0; vip < vips; vip++)
                {
                    // Candidates start within 20 ms of each other in random order, as pods' retries do: started in a
                    // fixed order, the first pod's electors won nearly every Lease (39 : 9.4 : 1.5 … for 50 on 7).
                    var jitter = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * 20);
                    var elector = new LeaderElector(clients[pod], new LeaderElectionOptions("default", $"vip-{trial}-{vip}", $"lb-{pod}"), NullLogger.Instance);
                    electors.Add((pod, elector, Task.Run(async () =>
                    {
                        await start.Task;
                        await Task.Delay(jitter);
                        await elector.RunAsync(stop.Token);
                    })));
                }
            }
            start.SetResult();
            var wait = Stopwatch.StartNew();
            while (electors.Count(e => e.Elector.Current is not null) < vips)
            {
                if (wait.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"trial {trial}: not every VIP had a master after 60 s");
                await Task.Delay(10);
            }
            return electors.Where(e => e.Elector.Current is not null).GroupBy(e => e.Pod).Select(g => g.Count())
                .Concat(Enumerable.Repeat(0, pods)).Take(pods).OrderDescending().ToArray();
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(electors.Select(e => e.Run));
            foreach (var client in clients) client.Dispose();
        }
    }

    private static int Spread(int[] counts) => counts.Max() - counts.Min();

    private static bool Balanced(int[] counts) => Spread(counts) <= 1;

    private static string Means(List<int[]> trials) =>
        string.Join(" : ", Enumerable.Range(0, trials[0].Length).Select(i => trials.Average(t => t[i]).ToString("F2", CultureInfo.InvariantCulture)));
}
