using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;

namespace PortableLb.Benchmarks;

/// <summary>
/// One operation per iteration (so Median and P99 are per-operation), after enough warm-up for tiered JIT to
/// settle, under the GC settings of portable-lb's own runtimeconfig (src/PortableLb/PortableLb.csproj).
/// </summary>
public sealed class PortableLbGcConfig : ManualConfig
{
    public PortableLbGcConfig() =>
        AddJob(Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithWarmupCount(100)
            .WithIterationCount(100)
            .WithGcConcurrent(false)
            .WithGcForce(false)
            .WithEnvironmentVariables(new EnvironmentVariable("DOTNET_GCLOHThreshold", "0x1000000")));
}
