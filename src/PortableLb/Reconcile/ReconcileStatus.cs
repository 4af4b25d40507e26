namespace PortableLb.Reconcile;

/// <summary>What the loop last did, for /readyz and /metrics. Written by the one worker, read by HTTP requests.</summary>
public sealed class ReconcileStatus
{
    private readonly Lock _lock = new();

    public ReconcileOutcome? LastOutcome { get; private set; }
    public DateTimeOffset? LastSuccess { get; private set; }
    public DateTimeOffset? LastAttempt { get; private set; }
    public string? LastFailure { get; private set; }
    public TimeSpan LastDuration { get; private set; }
    public Dictionary<ReconcileResult, long> Counts { get; } = [];
    public long Failures { get; private set; }

    /// <summary>False while some data-plane step could not be done (no NET_ADMIN, no IPVS in the kernel).</summary>
    public bool DataPlaneComplete => LastOutcome is null || LastOutcome.DataPlaneWarnings.Count == 0;

    /// <summary>True while the live files differ from what the cluster asks for (a rejection or a failed apply).</summary>
    public bool ConfigStale => LastFailure is not null;

    public void Record(ReconcileOutcome outcome, TimeSpan duration, DateTimeOffset now)
    {
        lock (_lock)
        {
            (LastOutcome, LastAttempt, LastDuration) = (outcome, now, duration);
            Counts[outcome.Result] = Counts.GetValueOrDefault(outcome.Result) + 1;
            if (outcome.Result is ReconcileResult.Applied or ReconcileResult.Unchanged)
            {
                (LastSuccess, LastFailure) = (now, null);
            }
            else
            {
                LastFailure = string.Join("; ", outcome.Failures);
            }
        }
    }

    public void RecordFailure(string failure, DateTimeOffset now)
    {
        lock (_lock)
        {
            (LastAttempt, LastFailure) = (now, failure);
            Failures++;
        }
    }
}
