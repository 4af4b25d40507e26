using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using PortableLb.Benchmarks;

// `peak-rss` measures memory in child processes, `informer` the Kubernetes source against the fake API server;
// `manifests N` and `tuning` print the synthetic cluster for runs by hand; anything else goes to BenchmarkDotNet (e.g. --filter '*').
return args switch
{
    ["peak-rss", ..] => PeakRss.Report([1_000, 10_000]),
    ["peak-rss-one", var size] => PeakRss.MeasureOne(int.Parse(size)),
    ["informer", ..] => await InformerBench.RunAsync(events: 1_000),
    ["run-latency", ..] => await RunBench.LatencyAsync(events: 200),
    ["run-memory", ..] => await RunBench.MemoryAsync(),
    ["status"] => await StatusBench.RunAsync(existing: 1_000, created: 200, rest: TimeSpan.FromMinutes(1)),
    ["status", var existing, var created, var restSeconds] => await StatusBench.RunAsync(int.Parse(existing), int.Parse(created), TimeSpan.FromSeconds(int.Parse(restSeconds))),
    ["masters"] => await MasterPlacementBench.RunAsync(vips: 5, pods: 3, trials: 100) | await MasterPlacementBench.RunAsync(vips: 50, pods: 7, trials: 100),
    ["run-soak"] => await SoakBench.RunAsync(minutes: 10, changesPerMinute: 1_000),
    ["run-soak", var minutes] => await SoakBench.RunAsync(double.Parse(minutes, System.Globalization.CultureInfo.InvariantCulture), changesPerMinute: 1_000),
    ["ecmp"] => await EcmpBench.RunAsync(events: 20, holdTime: 3),
    ["ecmp", var events] => await EcmpBench.RunAsync(int.Parse(events), holdTime: 3),
    ["vm"] => await VmBench.RunAsync(events: 24),
    ["vm", var events] => await VmBench.RunAsync(int.Parse(events)),
    ["manifests", var size] => Print(SyntheticCluster.Manifests(int.Parse(size))),
    ["tuning"] => Print(SyntheticCluster.Tuning),
    _ => RunBenchmarks(args),
};

static int Print(string text)
{
    Console.Out.Write(text);
    return 0;
}

static int RunBenchmarks(string[] args)
{
    var config = DefaultConfig.Instance.AddColumn(new P99Column());
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(RenderBenchmarks).Assembly).Run(args, config);
    return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
}
