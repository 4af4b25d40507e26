using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PortableLb.Apply;
using PortableLb.Reconcile;
using PortableLb.Sources;

namespace PortableLb.Diagnostics;

/// <summary>What /readyz checks: the sources have been read, the last apply succeeded, and the daemons run.</summary>
public sealed class Readiness(IClusterSource source, ReconcileStatus status, string keepalivedPidFile, string exabgpPidFile)
{
    /// <summary>Why this LB pod should not get traffic now; empty when it is ready.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!source.Ready.IsCompletedSuccessfully) problems.Add("the cluster sources have not completed their first read");
        if (status.LastAttempt is null) problems.Add("no reconcile has run yet");
        if (status.LastFailure is { } failure) problems.Add($"the last apply failed: {failure}");
        if (PidFile.Find(keepalivedPidFile, Daemon.Keepalived) is null) problems.Add($"keepalived is not running (no live pid in {keepalivedPidFile})");
        var bgpOn = status.LastOutcome?.Build.State.Bgp is not null;
        if (bgpOn && PidFile.Find(exabgpPidFile, Daemon.Exabgp) is null) problems.Add($"exabgp is not running (no live pid in {exabgpPidFile})");
        return problems;
    }
}

/// <summary>The kubelet's probes and Prometheus' scrape: /healthz, /readyz and /metrics.</summary>
public static class HealthEndpoints
{
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", (ControllerService controller) => controller.Faulted is { } fault
            ? Results.Text($"controller stopped: {fault.Message}\n", statusCode: StatusCodes.Status500InternalServerError)
            : Results.Text("ok\n"));

        app.MapGet("/readyz", (Readiness readiness) => readiness.Problems() is { Count: > 0 } problems
            ? Results.Text(string.Join("\n", problems) + "\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text("ready\n"));

        app.MapGet("/metrics", (IClusterSource source, ReconcileStatus status) =>
            Results.Text(MetricsWriter.Write(status, source.Ready.IsCompletedSuccessfully), MetricsWriter.ContentType));
    }
}
