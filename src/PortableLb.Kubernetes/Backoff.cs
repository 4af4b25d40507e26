namespace PortableLb.Kubernetes;

/// <summary>
/// Exponential backoff with full jitter, capped, and reset after a success, so a long outage does not leave the
/// next short one waiting at the cap.
/// </summary>
public sealed class Backoff(TimeSpan initial, TimeSpan cap, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;
    private int _failures;

    /// <summary>The next wait: uniform in [base/2, base] where base doubles per failure up to the cap.</summary>
    public TimeSpan Next(TimeSpan? serverAsked = null)
    {
        var exponent = Math.Min(_failures++, 30);
        var ceiling = Math.Min(cap.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, exponent));
        var wait = TimeSpan.FromMilliseconds(ceiling / 2 + _random.NextDouble() * ceiling / 2);
        // Retry-After is the server's own estimate; never come back sooner than it asked.
        return serverAsked is { } asked && asked > wait ? asked : wait;
    }

    public void Reset() => _failures = 0;
}
