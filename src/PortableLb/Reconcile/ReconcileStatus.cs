using PortableLb.Apply;
using Prometheus;

namespace PortableLb.Reconcile;

/// <summary>What the loop last did, for /readyz and /metrics. Written by the one worker, read by HTTP requests.</summary>
public sealed class ReconcileStatus
{
    /// <summary>5 ms to 30 s: a 10-endpoint render sits in the first buckets, a 10k-endpoint keepalived check near 0.5 s.</summary>
    public static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Lock _lock = new();

    public ReconcileStatus()
    {
        var metrics = Prometheus.Metrics.WithCustomRegistry(Registry);
        Histogram Durations(string name, string help) => metrics.CreateHistogram(name, help, new HistogramConfiguration { Buckets = DurationBuckets });
        ReconcileSeconds = Durations("portable_lb_reconcile_duration_seconds", "Whole reconciles, including those that found nothing to do.");
        RenderSeconds = Durations("portable_lb_render_duration_seconds", "Build and render of the reconciles that rendered.");
        ApplySeconds = Durations("portable_lb_apply_duration_seconds", "Validate, data plane, write and reload of the reconciles that rendered.");
    }

    /// <summary>This controller's metrics (its own registry, not the process-wide default): the durations observed here, the rest set at each scrape.</summary>
    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    public ReconcileOutcome? LastOutcome { get; private set; }
    public DateTimeOffset? LastSuccess { get; private set; }
    public DateTimeOffset? LastAttempt { get; private set; }
    public string? LastFailure { get; private set; }
    public Dictionary<ReconcileResult, long> Counts { get; } = [];
    public long Failures { get; private set; }
    public Histogram RenderSeconds { get; }
    public Histogram ApplySeconds { get; }
    public Histogram ReconcileSeconds { get; }

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
            ReconcileSeconds.Observe(duration.TotalSeconds);
            if (outcome.Result is ReconcileResult.Applied or ReconcileResult.Rejected)
            {
                RenderSeconds.Observe(outcome.RenderDuration.TotalSeconds);
                ApplySeconds.Observe(outcome.ApplyDuration.TotalSeconds);
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
