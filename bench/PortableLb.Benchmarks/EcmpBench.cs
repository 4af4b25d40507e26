using System.Diagnostics;
using PortableLb.Testing;

namespace PortableLb.Benchmarks;

/// <summary>
/// Delays from a trigger to the router's kernel FIB in the ECMP lab (tests/ecmp/ecmp-lab.sh), polled as fast as
/// `ip route show` runs (a few ms a poll). LB 1 and 2 stay up for both Services; LB 4 comes and goes for web-a;
/// web-b's endpoints come and go. The controller's own share (trigger → exabgp.conf rewritten) is reported apart.
/// Needs root.
/// </summary>
public static class EcmpBench
{
    private sealed record Sample(double Fib, double? Controller);

    public static async Task<int> RunAsync(int events, int holdTime)
    {
        var results = new Dictionary<string, List<Sample>>();
        void Add(string kind, Sample sample)
        {
            if (!results.TryGetValue(kind, out var list)) results[kind] = list = [];
            list.Add(sample);
        }
        // In the VM: an LB pod announces only what its keepalived has programmed, and only that kernel has IPVS.
        await using var vm = await VmSession.StartAsync();
        await using var lab = await EcmpLab.StartAsync(vm, EcmpLab.PortableLbCommand(), holdTime);
        await lab.StartLbAsync(1, "a", "b");
        await lab.StartLbAsync(2, "a", "b");
        await UntilAsync(lab, EcmpLab.ServiceB, hops => hops.Count == 2, TimeSpan.FromSeconds(90));
        var node4 = EcmpLab.NodeOf(4);

        for (var i = 0; i < events; i++)
        {
            // Added: counted from when exabgp starts (lb-start returns as it spawns exabgp).
            var started = Stopwatch.GetTimestamp();
            var startedAt = DateTime.UtcNow;
            await lab.StartLbAsync(4, "a");
            var exabgpStarted = Stopwatch.GetTimestamp();
            var controller = (lab.ExabgpConfWritten(4) - startedAt).TotalMilliseconds;
            Add("LB added (from exabgp start)", new(await UntilAsync(lab, EcmpLab.ServiceA, h => h.Contains(node4), TimeSpan.FromSeconds(90), exabgpStarted), controller));
            _ = started;

            // Removed gracefully: SIGTERM → withdraw; lb-stop itself waits out the grace period, so poll beside it.
            var sigterm = DateTime.UtcNow;
            var t0 = Stopwatch.GetTimestamp();
            var stopping = lab.StopLbAsync(4);
            var fib = await UntilAsync(lab, EcmpLab.ServiceA, h => !h.Contains(node4), TimeSpan.FromSeconds(90), t0);
            await stopping;
            Add("LB removed gracefully (SIGTERM)", new(fib, (lab.ExabgpConfWritten(4) - sigterm).TotalMilliseconds));

            // Endpoint-driven withdrawal and re-announcement of web-b on LB 1 and 2.
            foreach (var serving in new[] { false, true })
            {
                var at = DateTime.UtcNow;
                t0 = Stopwatch.GetTimestamp();
                await lab.SetEndpointsAsync("b", serving);
                fib = await UntilAsync(lab, EcmpLab.ServiceB, h => h.Count == (serving ? 2 : 0), TimeSpan.FromSeconds(90), t0);
                await Task.Delay(300); // both LBs have written by now; take the later one
                var share = new[] { 1, 2 }.Max(lb => (lab.ExabgpConfWritten(lb) - at).TotalMilliseconds);
                Add(serving ? "endpoint back → announced" : "last endpoint gone → withdrawn", new(fib, share));
            }
        }

        foreach (var (failure, name) in new (Func<Task>, string)[] { (() => lab.FreezeExabgpAsync(4), "hard failure: exabgp SIGSTOP"), (() => lab.UnlinkAsync(4), "hard failure: link down") })
        {
            for (var i = 0; i < events; i++)
            {
                await lab.StartLbAsync(4, "a");
                await UntilAsync(lab, EcmpLab.ServiceA, h => h.Contains(node4), TimeSpan.FromSeconds(90));
                var t0 = Stopwatch.GetTimestamp();
                await failure();
                Add(name, new(await UntilAsync(lab, EcmpLab.ServiceA, h => !h.Contains(node4), TimeSpan.FromSeconds(holdTime * 3), t0), null));
                await lab.CleanLbAsync(4);
            }
        }

        Console.WriteLine($"ECMP lab, BGP hold time {holdTime} s, {ControllerCommand.Describe()}; times in ms from the trigger to the router's kernel FIB");
        Console.WriteLine();
        Console.WriteLine("| event | n | min | median | p99 | max | controller's share: median / p99 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (kind, samples) in results)
        {
            var fib = samples.Select(s => s.Fib).Order().ToList();
            var share = samples.Where(s => s.Controller is not null).Select(s => s.Controller!.Value).Order().ToList();
            Console.WriteLine($"| {kind} | {fib.Count} | {fib[0]:0} | {Percentile.Of(fib, 0.5):0} | {Percentile.Of(fib, 0.99):0} | {fib[^1]:0} | " +
                (share.Count == 0 ? "n/a" : $"{Percentile.Of(share, 0.5):0} / {Percentile.Of(share, 0.99):0}") + " |");
        }
        return 0;
    }

    /// <summary>Polls the router's FIB until the next hops satisfy the condition; milliseconds since `since`.</summary>
    private static async Task<double> UntilAsync(EcmpLab lab, string address, Func<IReadOnlyList<string>, bool> done, TimeSpan timeout, long? since = null)
    {
        var start = since ?? Stopwatch.GetTimestamp();
        while (!done(await lab.NextHopsAsync(address)))
        {
            if (Stopwatch.GetElapsedTime(start) > timeout) throw new TimeoutException($"{address} did not converge within {timeout.TotalSeconds} s:\n{await lab.LogsAsync()}");
        }
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
