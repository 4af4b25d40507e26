namespace PortableLb.Benchmarks;

/// <summary>Nearest-rank percentiles: with 20-odd samples, p99 is the largest, not an interpolation past it.</summary>
public static class Percentile
{
    public static double Of(IReadOnlyList<double> sorted, double p) => sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
