using PortableLb.Apply;
using PortableLb.Common;

namespace PortableLb.Reconcile;

/// <summary>What the loop last did, for /readyz and /metrics. Written by the one worker, read by HTTP requests.</summary>
public sealed class ReconcileStatus
{
    private readonly Lock _lock = new();

    public ReconcileOutcome? LastOutcome { get; private set; }
    public DateTimeOffset? LastSuccess { get; private set; }
    public DateTimeOffset? LastAttempt { get; private set; }
    public string? LastFailure { get; private set; }
    public Dictionary<ReconcileResult, long> Counts { get; } = [];
    public long Failures { get; private set; }
    public Histogram RenderSeconds { get; } = new();
    public Histogram ApplySeconds { get; } = new();
    public Histogram ReconcileSeconds { get; } = new();

    private readonly Dictionary<(Daemon Daemon, ReloadResult Result), long> _reloads = [];

    public IReadOnlyDictionary<(Daemon Daemon, ReloadResult Result), long> Reloads
    {
        get
        {
            lock (_lock) return new Dictionary<(Daemon, ReloadResult), long>(_reloads);
        }
    }

    public void RecordReload(Daemon daemon, ReloadResult result)
    {
        lock (_lock) _reloads[(daemon, result)] = _reloads.GetValueOrDefault((daemon, result)) + 1;
    }

    /// <summary>
    /// What the data plane lacked when it was last applied (no NET_ADMIN, no IPVS in the kernel). An unchanged
    /// reconcile does not touch the data plane, so it leaves this as it was: the state, not the last outcome.
    /// </summary>
    public IReadOnlyList<string> DataPlaneProblems { get; private set; } = [];

    public bool DataPlaneComplete => DataPlaneProblems.Count == 0;

    /// <summary>Daemons whose config on disk they have not confirmed loading (exabgp ignores SIGUSR1 while a peer is down).</summary>
    public IReadOnlyList<Daemon> PendingReloads { get; private set; } = [];

    /// <summary>True while the live files differ from what the cluster asks for (a rejection or a failed apply).</summary>
    public bool ConfigStale => LastFailure is not null;

    public void Record(ReconcileOutcome outcome, TimeSpan duration, DateTimeOffset now)
    {
        lock (_lock)
        {
            (LastOutcome, LastAttempt) = (outcome, now);
            if (outcome.DataPlane is { } dataPlane) DataPlaneProblems = dataPlane.Warnings;
            if (outcome.Result is ReconcileResult.Applied or ReconcileResult.Unchanged) PendingReloads = outcome.PendingReloads;
            Counts[outcome.Result] = Counts.GetValueOrDefault(outcome.Result) + 1;
            ReconcileSeconds.Observe(duration);
            if (outcome.Result is ReconcileResult.Applied or ReconcileResult.Rejected)
            {
                RenderSeconds.Observe(outcome.RenderDuration);
                ApplySeconds.Observe(outcome.ApplyDuration);
            }
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

/// <summary>Counts every reload and its result for /metrics, whatever happens to the reconcile that asked for it.</summary>
public sealed class CountingReloader(IDaemonReloader inner, ReconcileStatus status) : IDaemonReloader
{
    public async Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
    {
        var result = await inner.ReloadAsync(daemon, cancellationToken).ConfigureAwait(false);
        status.RecordReload(daemon, result);
        return result;
    }
}
