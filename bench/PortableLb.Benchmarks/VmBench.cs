using System.Globalization;
using PortableLb.Testing;

namespace PortableLb.Benchmarks;

/// <summary>
/// Real IPVS in the QEMU VM (tests/vm, `bench` mode): how long from a manifest edit until the kernel's IPVS table
/// shows it, at 10 and 1,000 real servers, and the thesis' Fig. 6.4 comparison (wrk through IPVS NAT, nft DNAT,
/// an nginx reverse proxy and a direct path). The VM is emulated, so absolute numbers are far below a real
/// machine's; the ratios between paths are what carries over. Needs root.
/// </summary>
public static class VmBench
{
    public static async Task<int> RunAsync(int events)
    {
        Console.WriteLine($"VM benchmark: {events} events per size, portable-lb as {ControllerCommand.Describe()}");
        using var vm = await VmLab.RunAsync("bench", events);
        if (vm.ExitCode != 0)
        {
            Console.Error.WriteLine(vm.Summary());
            return 1;
        }

        Console.WriteLine();
        Console.WriteLine("Event (manifest renamed into place) → /proc/net/ip_vs shows it, ms:");
        Console.WriteLine();
        Console.WriteLine("| real servers | events | min | median | p99 | max | `keepalived -t` alone (median) | controller: render / apply (mean) |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var timings = vm.Lines("events.txt").Select(l => l.Split(' ')).Where(f => f.Length == 3 && double.TryParse(f[2], out _)).ToList();
        foreach (var size in timings.Select(f => f[0]).Distinct())
        {
            var times = Samples(timings, size, "add", "remove");
            var validation = Samples(timings, size, "keepalived-t");
            if (times.Count == 0) continue;
            Console.WriteLine($"| {size} | {times.Count} | {times[0]:0} | {Percentile.Of(times, 0.5):0} | {Percentile.Of(times, 0.99):0} | {times[^1]:0} | " +
                (validation.Count == 0 ? "n/a" : $"{Percentile.Of(validation, 0.5):0}") + " | " +
                $"{MeanMs(vm, size, "portable_lb_render_duration_seconds"):0} / {MeanMs(vm, size, "portable_lb_apply_duration_seconds"):0} |");
        }

        Console.WriteLine();
        Console.WriteLine("Throughput (wrk -t2 -c32, keep-alive, 2 nginx backends), requests/s per round, median, and the median's share of direct:");
        Console.WriteLine();
        Console.WriteLine("| path | rounds | median req/s | vs direct |");
        Console.WriteLine("| --- | --- | ---: | ---: |");
        var rounds = vm.Lines("throughput.txt").Select(l => l.Split(' ')).Where(f => f.Length == 3).ToList();
        var medians = rounds.GroupBy(f => f[0]).ToDictionary(
            g => g.Key,
            g => (Rounds: g.Select(f => f[2]).ToList(), Median: Percentile.Of([.. g.Select(f => double.Parse(f[2], CultureInfo.InvariantCulture)).Order()], 0.5)));
        foreach (var (path, (each, median)) in medians)
        {
            Console.WriteLine($"| {path} | {string.Join(", ", each)} | {median:0} | {median / medians["direct"].Median:P0} |");
        }
        return 0;
    }

    /// <summary>A histogram's mean over one phase, from the /metrics snapshots the guest took before and after it.</summary>
    private static double MeanMs(VmLab vm, string size, string histogram)
    {
        double Value(string snapshot, string suffix) => vm.Lines($"metrics-{size}-{snapshot}.txt")
            .Where(l => l.StartsWith(histogram + suffix + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture)).DefaultIfEmpty(double.NaN).First();
        var count = Value("after", "_count") - Value("before", "_count");
        return count > 0 ? 1000 * (Value("after", "_sum") - Value("before", "_sum")) / count : double.NaN;
    }

    private static List<double> Samples(List<string[]> lines, string size, params string[] labels) =>
        [.. lines.Where(f => f[0] == size && labels.Contains(f[1])).Select(f => double.Parse(f[2], CultureInfo.InvariantCulture)).Order()];
}
