using System.Globalization;
using System.Text;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Sources;

namespace PortableLb.Diagnostics;

/// <summary>
/// The Prometheus text exposition format (version 0.0.4), written by hand because prometheus-net is not available
/// here. Small on purpose: HELP and TYPE once per family, label values escaped, one sample per line.
/// </summary>
public static class MetricsWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <param name="status">What the reconcile loop last did.</param>
    /// <param name="sourcesReady">Whether every cluster source has completed its first read.</param>
    /// <param name="serving">What this pod serves, when daemons are watched.</param>
    /// <param name="faults">The background tasks that failed.</param>
    /// <param name="sources">Each source part's health.</param>
    public static string Write(ReconcileStatus status, bool sourcesReady, ServingFacts? serving = null, BackgroundFaults? faults = null, IReadOnlyList<SourceHealth>? sources = null)
    {
        var text = new StringBuilder();
        Family(text, "portable_lb_sources_ready", "gauge", "1 once every cluster source has completed its first read.");
        Sample(text, "portable_lb_sources_ready", [], sourcesReady ? 1 : 0);

        Family(text, "portable_lb_source_failing_seconds", "gauge", "How long listing or watching a part of the source has been failing (401, 403, unreachable); 0 while it works.");
        foreach (var part in sources ?? [])
        {
            Sample(text, "portable_lb_source_failing_seconds", [("part", part.Part)], Math.Round(part.Failing.TotalSeconds, 3));
        }

        Family(text, "portable_lb_background_faults", "gauge", "Background tasks that stopped by fault; the process then exits non-zero.");
        Sample(text, "portable_lb_background_faults", [], faults?.All.Count ?? 0);

        Family(text, "portable_lb_reconciles_total", "counter", "Reconciles by result.");
        foreach (var result in Enum.GetValues<ReconcileResult>())
        {
            Sample(text, "portable_lb_reconciles_total", [("result", result.ToString().ToLowerInvariant())], status.Counts.GetValueOrDefault(result));
        }
        Sample(text, "portable_lb_reconciles_total", [("result", "failed")], status.Failures);

        Family(text, "portable_lb_config_stale", "gauge", "1 while the live files differ from what the cluster asks for.");
        Sample(text, "portable_lb_config_stale", [], status.ConfigStale ? 1 : 0);

        Family(text, "portable_lb_last_success_timestamp_seconds", "gauge", "Unix time of the last reconcile that left the files matching the cluster.");
        Sample(text, "portable_lb_last_success_timestamp_seconds", [], status.LastSuccess?.ToUnixTimeMilliseconds() / 1000.0 ?? 0);

        Family(text, "portable_lb_reloads_total", "counter", "Reload signals by daemon and result: signalled (and confirmed where the daemon can say so), not_running, unconfirmed.");
        foreach (var ((daemon, result), count) in status.Reloads.OrderBy(r => r.Key))
        {
            Sample(text, "portable_lb_reloads_total", [("daemon", daemon.ToString().ToLowerInvariant()), ("result", Snake(result.ToString()))], count);
        }

        Histogram(text, "portable_lb_reconcile_duration_seconds", "Whole reconciles, including those that found nothing to do.", status.ReconcileSeconds);
        Histogram(text, "portable_lb_render_duration_seconds", "Build and render of the reconciles that rendered.", status.RenderSeconds);
        Histogram(text, "portable_lb_apply_duration_seconds", "Validate, data plane, write and reload of the reconciles that rendered.", status.ApplySeconds);

        Family(text, "portable_lb_data_plane_complete", "gauge", "0 while a local route, packet mark or IPVS sysctl could not be set.");
        Sample(text, "portable_lb_data_plane_complete", [], status.DataPlaneComplete ? 1 : 0);

        Family(text, "portable_lb_reload_pending", "gauge", "1 while a daemon has not confirmed loading its config on disk (it is signalled again with backoff).");
        foreach (var daemon in Enum.GetValues<PortableLb.Apply.Daemon>())
        {
            Sample(text, "portable_lb_reload_pending", [("daemon", daemon.ToString().ToLowerInvariant())], status.PendingReloads.Contains(daemon) ? 1 : 0);
        }

        if (serving is not null)
        {
            Family(text, "portable_lb_ipvs_available", "gauge", "1 when this kernel has IPVS (/proc/net/ip_vs exists); without it nothing can be served.");
            Sample(text, "portable_lb_ipvs_available", [], serving.Ipvs is null ? 0 : 1);
            Family(text, "portable_lb_keepalived_running", "gauge", "1 while keepalived's pid file names a live keepalived.");
            Sample(text, "portable_lb_keepalived_running", [], serving.KeepalivedRunning ? 1 : 0);
        }

        var state = status.LastOutcome?.Build.State ?? DesiredState.Empty;
        var served = status.LastOutcome?.Served ?? DesiredState.Empty;
        Family(text, "portable_lb_virtual_servers", "gauge", "Virtual servers in the desired state.");
        Sample(text, "portable_lb_virtual_servers", [], state.VirtualServers.Count);
        Family(text, "portable_lb_real_servers", "gauge", "Real servers in the desired state, by why they have their weight.");
        foreach (var kind in Enum.GetValues<RealServerState>())
        {
            Sample(text, "portable_lb_real_servers", [("state", kind.ToString().ToLowerInvariant())], state.VirtualServers.Sum(v => v.RealServers.Count(r => r.State == kind)));
        }
        Family(text, "portable_lb_announcements", "gauge", "Routes announced over BGP: those of the desired state that this pod serves.");
        Sample(text, "portable_lb_announcements", [], served.Announcements.Count);
        Family(text, "portable_lb_announcements_desired", "gauge", "Routes the cluster asks this pod to announce, served or not.");
        Sample(text, "portable_lb_announcements_desired", [], state.Announcements.Count);
        Family(text, "portable_lb_rejected_objects", "gauge", "Objects (or parts of them) rejected by the last reconcile.");
        Sample(text, "portable_lb_rejected_objects", [], status.LastOutcome?.Build.Errors.Count ?? 0);
        return text.ToString();
    }

    private static void Histogram(StringBuilder text, string name, string help, Histogram histogram)
    {
        Family(text, name, "histogram", help);
        var (cumulative, sum, count) = histogram.Snapshot();
        for (var i = 0; i < cumulative.Count; i++)
        {
            Sample(text, name + "_bucket", [("le", histogram.UpperBounds[i].ToString("R", CultureInfo.InvariantCulture))], cumulative[i]);
        }
        Sample(text, name + "_bucket", [("le", "+Inf")], count);
        Sample(text, name + "_sum", [], sum);
        Sample(text, name + "_count", [], count);
    }

    private static string Snake(string pascal) => string.Concat(pascal.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    private static void Family(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Sample(StringBuilder text, string name, (string Name, string Value)[] labels, double value)
    {
        text.Append(name);
        if (labels.Length > 0)
        {
            text.Append('{').AppendJoin(',', labels.Select(l => $"{l.Name}=\"{Escape(l.Value)}\"")).Append('}');
        }
        text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
