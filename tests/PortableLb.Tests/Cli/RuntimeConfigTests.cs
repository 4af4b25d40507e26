using System.Text.Json;

namespace PortableLb.Tests.Cli;

public sealed class RuntimeConfigTests
{
    /// <summary>The benchmarks set the same knobs (bench/PortableLbGcConfig.cs); if this changes, so must they.</summary>
    [Test]
    public void Portable_lb_keeps_rendered_configs_off_the_large_object_heap_and_runs_without_background_gc()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "portable-lb.runtimeconfig.json")));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.That(properties.GetProperty("System.GC.LOHThreshold").GetInt64(), Is.EqualTo(0x1000000));
        Assert.That(properties.GetProperty("System.GC.Concurrent").GetBoolean(), Is.False);
    }
}
