using System.Diagnostics;

namespace PortableLb.IntegrationTests;

/// <summary>Bounded waits on a condition: the way these tests wait, instead of sleeping and hoping.</summary>
public static class Eventually
{
    public static async Task True(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(15);
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit) Assert.Fail($"timed out after {limit.TotalSeconds:0.#} s waiting for: {what}");
            await Task.Delay(5);
        }
    }

    /// <summary>For conditions that must ask another process (gobgp, say); context() explains a timeout.</summary>
    public static async Task True(Func<Task<bool>> condition, string what, Func<string>? context = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit) Assert.Fail($"timed out after {limit.TotalSeconds:0.#} s waiting for: {what}\n{context?.Invoke()}");
            await Task.Delay(20);
        }
    }
}
