using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using PortableLb.Benchmarks;

// `peak-rss` measures memory in child processes; anything else goes to BenchmarkDotNet (e.g. --filter '*').
return args switch
{
    ["peak-rss", ..] => PeakRss.Report([1_000, 10_000]),
    ["peak-rss-one", var size] => PeakRss.MeasureOne(int.Parse(size)),
    _ => RunBenchmarks(args),
};

static int RunBenchmarks(string[] args)
{
    var config = DefaultConfig.Instance.AddColumn(new P99Column());
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(RenderBenchmarks).Assembly).Run(args, config);
    return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
}
