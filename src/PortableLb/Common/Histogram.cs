namespace PortableLb.Common;

/// <summary>A Prometheus histogram of durations in seconds: cumulative buckets, a sum and a count. Thread-safe.</summary>
public sealed class Histogram
{
    /// <summary>5 ms to 30 s: a 10-endpoint render sits in the first buckets, a 10k-endpoint keepalived check near 0.5 s.</summary>
    public static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Lock _lock = new();
    private readonly long[] _counts;

    public Histogram(double[]? upperBounds = null)
    {
        UpperBounds = upperBounds ?? DurationBuckets;
        _counts = new long[UpperBounds.Count];
    }

    public IReadOnlyList<double> UpperBounds { get; }
    public double Sum { get; private set; }
    public long Count { get; private set; }

    public void Observe(TimeSpan duration)
    {
        var seconds = duration.TotalSeconds;
        lock (_lock)
        {
            for (var i = 0; i < _counts.Length; i++)
            {
                if (seconds <= UpperBounds[i]) _counts[i]++;
            }
            Sum += seconds;
            Count++;
        }
    }

    /// <summary>Cumulative counts per upper bound, as the exposition wants them, taken under the lock.</summary>
    public (IReadOnlyList<long> Cumulative, double Sum, long Count) Snapshot()
    {
        lock (_lock) return ([.. _counts], Sum, Count);
    }
}
