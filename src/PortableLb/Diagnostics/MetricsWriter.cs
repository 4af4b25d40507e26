using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Sources;
using Prometheus;

namespace PortableLb.Diagnostics;

/// <summary>
/// /metrics on prometheus-net, in the controller's own registry (<see cref="ReconcileStatus.Registry"/>). The
/// durations are observed as reconciles happen; everything else is a level read at scrape time from what the loop,
/// the sources and the serving monitor know now, so the exposition can never drift from /readyz.
/// </summary>
public sealed class MetricsWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly ReconcileStatus _status;
    private readonly Gauge _sourcesReady;
    private readonly Gauge _sourceFailing;
    private readonly Gauge _backgroundFaults;
    private readonly Counter _reconciles;
    private readonly Gauge _configStale;
    private readonly Gauge _lastSuccess;
    private readonly Counter _reloads;
    private readonly Gauge _dataPlaneComplete;
    private readonly Gauge _reloadPending;
    private readonly Gauge _ipvsAvailable;
    private readonly Gauge _keepalivedRunning;
    private readonly Gauge _virtualServers;
    private readonly Gauge _realServers;
    private readonly Gauge _announcements;
    private readonly Gauge _announcementsDesired;
    private readonly Gauge _rejectedObjects;

    public MetricsWriter(ReconcileStatus status)
    {
        _status = status;
        var metrics = Prometheus.Metrics.WithCustomRegistry(status.Registry);
        Gauge Gauge(string name, string help, params string[] labels) => metrics.CreateGauge(name, help, labels);
        // Without a pod's daemons to watch (tests, `run` without them) these two say nothing rather than a false 0.
        Gauge ServingGauge(string name, string help) => metrics.CreateGauge(name, help, new GaugeConfiguration { SuppressInitialValue = true });
        _sourcesReady = Gauge("portable_lb_sources_ready", "1 once every cluster source has completed its first read.");
        _sourceFailing = Gauge("portable_lb_source_failing_seconds", "How long listing or watching a part of the source has been failing (401, 403, unreachable); 0 while it works.", "part");
        _backgroundFaults = Gauge("portable_lb_background_faults", "Background tasks that stopped by fault; the process then exits non-zero.");
        _reconciles = metrics.CreateCounter("portable_lb_reconciles_total", "Reconciles by result.", "result");
        _configStale = Gauge("portable_lb_config_stale", "1 while the live files differ from what the cluster asks for.");
        _lastSuccess = Gauge("portable_lb_last_success_timestamp_seconds", "Unix time of the last reconcile that left the files matching the cluster.");
        _reloads = metrics.CreateCounter("portable_lb_reloads_total", "Reload signals by daemon and result: signalled (and confirmed where the daemon can say so), not_running, unconfirmed.", "daemon", "result");
        _dataPlaneComplete = Gauge("portable_lb_data_plane_complete", "0 while a local route, packet mark or IPVS sysctl could not be set.");
        _reloadPending = Gauge("portable_lb_reload_pending", "1 while a daemon has not confirmed loading its config on disk (it is signalled again with backoff).", "daemon");
        _ipvsAvailable = ServingGauge("portable_lb_ipvs_available", "1 when this kernel has IPVS (/proc/net/ip_vs exists); without it nothing can be served.");
        _keepalivedRunning = ServingGauge("portable_lb_keepalived_running", "1 while keepalived's pid file names a live keepalived.");
        _virtualServers = Gauge("portable_lb_virtual_servers", "Virtual servers in the desired state.");
        _realServers = Gauge("portable_lb_real_servers", "Real servers in the desired state, by why they have their weight.", "state");
        _announcements = Gauge("portable_lb_announcements", "Routes announced over BGP: those of the desired state that this pod serves.");
        _announcementsDesired = Gauge("portable_lb_announcements_desired", "Routes the cluster asks this pod to announce, served or not.");
        _rejectedObjects = Gauge("portable_lb_rejected_objects", "Objects (or parts of them) rejected by the last reconcile.");
    }

    /// <param name="sourcesReady">Whether every cluster source has completed its first read.</param>
    /// <param name="serving">What this pod serves, when daemons are watched.</param>
    /// <param name="faults">The background tasks that failed.</param>
    /// <param name="sources">Each source part's health.</param>
    /// <param name="cancellationToken">The scrape going away.</param>
    public async Task<string> WriteAsync(bool sourcesReady, ServingFacts? serving = null, BackgroundFaults? faults = null, IReadOnlyList<SourceHealth>? sources = null, CancellationToken cancellationToken = default)
    {
        _sourcesReady.Set(sourcesReady ? 1 : 0);
        foreach (var part in sources ?? []) _sourceFailing.WithLabels(part.Part).Set(Math.Round(part.Failing.TotalSeconds, 3));
        _backgroundFaults.Set(faults?.All.Count ?? 0);

        foreach (var result in Enum.GetValues<ReconcileResult>())
        {
            _reconciles.WithLabels(result.ToString().ToLowerInvariant()).IncTo(_status.Counts.GetValueOrDefault(result));
        }
        _reconciles.WithLabels("failed").IncTo(_status.Failures);
        _configStale.Set(_status.ConfigStale ? 1 : 0);
        _lastSuccess.Set(_status.LastSuccess?.ToUnixTimeMilliseconds() / 1000.0 ?? 0);
        foreach (var ((daemon, result), count) in _status.Reloads.OrderBy(r => r.Key))
        {
            _reloads.WithLabels(daemon.ToString().ToLowerInvariant(), Snake(result.ToString())).IncTo(count);
        }

        _dataPlaneComplete.Set(_status.DataPlaneComplete ? 1 : 0);
        foreach (var daemon in Enum.GetValues<PortableLb.Apply.Daemon>())
        {
            _reloadPending.WithLabels(daemon.ToString().ToLowerInvariant()).Set(_status.PendingReloads.Contains(daemon) ? 1 : 0);
        }
        if (serving is not null)
        {
            _ipvsAvailable.Set(serving.Ipvs is null ? 0 : 1);
            _keepalivedRunning.Set(serving.KeepalivedRunning ? 1 : 0);
        }

        var state = _status.LastOutcome?.Build.State ?? DesiredState.Empty;
        var served = _status.LastOutcome?.Served ?? DesiredState.Empty;
        _virtualServers.Set(state.VirtualServers.Count);
        foreach (var kind in Enum.GetValues<RealServerState>())
        {
            _realServers.WithLabels(kind.ToString().ToLowerInvariant()).Set(state.VirtualServers.Sum(v => v.RealServers.Count(r => r.State == kind)));
        }
        _announcements.Set(served.Announcements.Count);
        _announcementsDesired.Set(state.Announcements.Count);
        _rejectedObjects.Set(_status.LastOutcome?.Build.Errors.Count ?? 0);

        using var text = new MemoryStream();
        await _status.Registry.CollectAndExportAsTextAsync(text, cancellationToken).ConfigureAwait(false);
        return System.Text.Encoding.UTF8.GetString(text.GetBuffer(), 0, (int)text.Length);
    }

    private static string Snake(string pascal) => string.Concat(pascal.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
