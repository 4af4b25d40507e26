using System.Globalization;
using System.Net;

namespace PortableLb.IntegrationTests.L2;

/// <summary>
/// L2 mode's failover time, for docs/benchmarks.md: the master of a VIP fails (keepalived killed, link down) 20
/// times, and each time the clock runs from the kill until the client's neighbour entry for the VIP names the backup
/// and the client is answered there. Once with advert_int 1 s and once with the smallest keepalived accepts (0.01 s,
/// VRRPv3's centisecond). Asserts nothing about speed.
///
///   sudo dotnet test tests/PortableLb.IntegrationTests -c Release --filter Category=L2Benchmark
/// </summary>
[Explicit("a benchmark, run by hand; its numbers go to docs/benchmarks.md")]
[Category("L2Benchmark")]
[NonParallelizable]
public sealed class L2Benchmarks
{
    private const int Kills = 20;

    [TestCase("1")]
    [TestCase("0.01")]
    [CancelAfter(1_200_000)]
    public async Task Failover_time_over_20_kills(string advertInterval)
    {
        IPAddress[] vips = [.. Enumerable.Range(200, 5).Select(i => IPAddress.Parse($"{L2Lab.Subnet}.{i}"))];
        await using var lab = await L2Lab.StartAsync(nodes: 3, vips);
        lab.Tuning = $"mode: l2\nl2: {{advertInterval: {advertInterval}, preemptDelay: 1}}\n";
        await lab.StartPodsAsync([.. lab.Nodes]);
        var samples = new List<double>();
        for (var kill = 0; kill < Kills; kill++)
        {
            var expected = lab.Expected()[vips[0]];
            var master = lab.Nodes.Single(n => n.Pod == expected.Master.Pod);
            var backup = lab.Nodes.Single(n => n.Pod == expected.Order[1].Pod);
            await L2Lab.WaitAsync(async () => await lab.AnswerAsync(vips[0]) == master.Name && await lab.NeighbourAsync(vips[0]) == master.Mac,
                TimeSpan.FromSeconds(60), async () => $"kill {kill + 1}: {vips[0]} answered by its master {master.Name} (it answers: {await lab.AnswerAsync(vips[0])}); logs:\n"
                    + string.Join("\n", lab.Nodes.Select(n => $"--- {n.Name}\n{lab.Logs(n)}")));

            var clock = System.Diagnostics.Stopwatch.StartNew();
            await L2Lab.FailAsync(master);
            await L2Lab.WaitAsync(async () => await lab.NeighbourAsync(vips[0]) == backup.Mac, TimeSpan.FromSeconds(30), $"{vips[0]} moves to {backup.Name}");
            samples.Add(clock.Elapsed.TotalSeconds);
            TestContext.Out.WriteLine($"kill {kill + 1}: {vips[0]} on {backup.Name} after {clock.Elapsed.TotalSeconds:F3} s");
            Assert.That(await lab.AnswerAsync(vips[0]), Is.EqualTo(backup.Name));

            // The node comes back, its pod restarts, and after the preemption delay it takes its VIPs back.
            await L2Lab.RecoverAsync(master);
            await lab.StartPodsAsync(master);
        }
        samples.Sort();
        string At(double q) => samples[(int)Math.Ceiling(q * samples.Count) - 1].ToString("F2", CultureInfo.InvariantCulture);
        TestContext.Out.WriteLine($"advert_int {advertInterval} s, {Kills} kills: failover p50 {At(0.5)} s, p99 {At(0.99)} s, min {samples[0]:F2} s, max {samples[^1]:F2} s");
    }
}
