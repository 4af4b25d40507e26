using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Reconcile;
using PortableLb.Sources;

namespace PortableLb.Diagnostics;

/// <summary>
/// What /readyz checks: the sources have been read, the last apply succeeded, the kernel has IPVS, keepalived runs,
/// and the daemons have loaded what is on disk. Degradations that do not stop serving (an IPVS sysctl not set) are
/// warnings: reported, but ready.
/// </summary>
public sealed class Readiness(IClusterSource source, ReconcileStatus status, ServingMonitor serving, BackgroundFaults faults, string keepalivedPidFile, string exabgpPidFile)
{
    /// <summary>
    /// How long a source may fail before the pod says it is unready: long enough for an API server restart, short
    /// enough that lost access (a revoked token, RBAC) shows before the config drifts far.
    /// </summary>
    public static readonly TimeSpan SourceOutageTolerated = TimeSpan.FromSeconds(30);

    /// <summary>Why this LB pod should not get traffic now; empty when it is ready.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        foreach (var (task, error) in faults.All) problems.Add($"{task} failed: {error.Message}");
        if (!source.Ready.IsCompletedSuccessfully) problems.Add("the cluster sources have not completed their first read");
        foreach (var part in source.Health().Where(h => !h.Healthy && h.Failing >= SourceOutageTolerated)) problems.Add(part.ToString());
        if (status.LastAttempt is null) problems.Add("no reconcile has run yet");
        if (status.LastFailure is { } failure) problems.Add($"the last apply failed: {failure}");
        if (!serving.IpvsAvailable) problems.Add("this kernel has no IPVS (no /proc/net/ip_vs): load the ip_vs module on the node");
        if (PidFile.Find(keepalivedPidFile, Daemon.Keepalived) is null) problems.Add($"keepalived is not running (no live pid in {keepalivedPidFile})");
        var bgpOn = status.LastOutcome?.Build.State.Bgp is not null;
        if (bgpOn && PidFile.Find(exabgpPidFile, Daemon.Exabgp) is null) problems.Add($"exabgp is not running (no live pid in {exabgpPidFile})");
        foreach (var daemon in status.PendingReloads) problems.Add($"{daemon.ToString().ToLowerInvariant()} has not confirmed loading its config on disk (signalled again with backoff)");
        return problems;
    }

    /// <summary>What is degraded but still serves.</summary>
    public IReadOnlyList<string> Warnings() => status.DataPlaneProblems;
}

/// <summary>The kubelet's probes and Prometheus' scrape: /healthz, /readyz and /metrics.</summary>
public static class HealthEndpoints
{
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", (BackgroundFaults faults) => faults.All is { Count: > 0 } all
            ? Results.Text(string.Concat(all.Select(f => $"{f.Task} failed: {f.Error.Message}\n")), statusCode: StatusCodes.Status500InternalServerError)
            : Results.Text("ok\n"));

        app.MapGet("/readyz", (Readiness readiness) =>
        {
            var warnings = string.Concat(readiness.Warnings().Select(w => $"warning: {w}\n"));
            return readiness.Problems() is { Count: > 0 } problems
                ? Results.Text(string.Join("\n", problems) + "\n" + warnings, statusCode: StatusCodes.Status503ServiceUnavailable)
                : Results.Text("ready\n" + warnings);
        });

        app.MapGet("/metrics", async (IClusterSource source, ServingMonitor serving, BackgroundFaults faults, MetricsWriter metrics, CancellationToken cancellationToken) =>
            Results.Text(await metrics.WriteAsync(source.Ready.IsCompletedSuccessfully, serving.Current, faults, source.Health(), cancellationToken), MetricsWriter.ContentType));
    }
}
