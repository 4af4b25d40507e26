using PortableLb.Apply;
using PortableLb.Model;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;

namespace PortableLb.Reconcile;

public enum ReconcileResult
{
    /// <summary>The desired state equals the one already applied: nothing rendered, written or signalled.</summary>
    Unchanged,

    /// <summary>Validated, written (where the bytes changed) and the daemons of changed files reloaded.</summary>
    Applied,

    /// <summary>A daemon rejected the candidate: nothing was written and the last good files stay live.</summary>
    Rejected,

    /// <summary>The tuning or this pod's addresses make every Service unrenderable; nothing was touched.</summary>
    ConfigError,
}

public sealed record ReconcileOutcome(
    ReconcileResult Result,
    BuildResult Build,
    WriteOutcome? Ipvs,
    WriteOutcome? Exabgp,
    IReadOnlyList<(Daemon Daemon, ReloadResult Result)> Reloads,
    IReadOnlyList<string> Failures)
{
    /// <summary>Data-plane steps that could not be done (no NET_ADMIN, no IPVS); empty when complete or not managed.</summary>
    public IReadOnlyList<string> DataPlaneWarnings { get; init; } = [];

    /// <summary>Build and render; zero when the desired state was unchanged.</summary>
    public TimeSpan RenderDuration { get; init; }

    /// <summary>Validate, data plane, write and reload; zero when nothing was applied.</summary>
    public TimeSpan ApplyDuration { get; init; }
}

/// <summary>
/// One reconcile, from a whole snapshot: build, render, validate what changed, write atomically, reload the daemons
/// whose file changed. The order is fixed here and only here. A rejected candidate leaves the live files alone and is
/// remembered, so the same bad input is not validated again until something changes.
/// </summary>
public sealed class Reconciler(ConfigRenderer renderer, IConfigValidator keepalived, IConfigValidator exabgp, IDaemonReloader reloader, string configDirectory, DataPlane? dataPlane = null)
{
    private readonly HashSet<Daemon> _reloadDue = [];
    private DesiredState? _applied;
    private DesiredState? _rejected;

    // What the live files hold: read from disk once (a restart finds the previous run's files), then known.
    private string? _liveIpvs;
    private string? _liveExabgp;
    private bool _liveRead;
    private IReadOnlyList<string> _rejectedFailures = [];

    public string IpvsPath { get; } = Path.Combine(configDirectory, "ipvs.conf");
    public string ExabgpPath { get; } = Path.Combine(configDirectory, "exabgp.conf");

    public async Task<ReconcileOutcome> ReconcileAsync(ClusterSnapshot snapshot, TuningSettings tuning, NodeAddresses node, IReadOnlyCollection<ServiceName>? only, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var build = DesiredStateBuilder.Build(snapshot, tuning, node, only);
        if (build.ConfigErrors.Count > 0)
        {
            return new ReconcileOutcome(ReconcileResult.ConfigError, build, null, null, [], build.ConfigErrors.Select(e => e.ToString()).ToList());
        }
        if (build.State.Equals(_applied) && _reloadDue.Count == 0) return new ReconcileOutcome(ReconcileResult.Unchanged, build, null, null, [], []);
        if (build.State.Equals(_rejected)) return new ReconcileOutcome(ReconcileResult.Rejected, build, null, null, [], _rejectedFailures);

        var configs = renderer.Render(build.State);
        var rendered = System.Diagnostics.Stopwatch.GetTimestamp();
        var bgpOn = build.State.Bgp is not null;
        if (!_liveRead)
        {
            (_liveIpvs, _liveExabgp, _liveRead) = (await ReadAsync(IpvsPath, cancellationToken).ConfigureAwait(false), await ReadAsync(ExabgpPath, cancellationToken).ConfigureAwait(false), true);
        }
        var ipvsChanged = configs.IpvsConf != _liveIpvs;
        var exabgpChanged = configs.ExabgpConf != _liveExabgp;

        // Validate only what would change, and both before writing either: exabgp's check alone costs ~0.3 s.
        var checks = new List<Task<(string File, ValidationResult Verdict)>>();
        if (ipvsChanged) checks.Add(CheckAsync(keepalived, "ipvs.conf", configs.IpvsConf, cancellationToken));
        if (exabgpChanged && bgpOn) checks.Add(CheckAsync(exabgp, "exabgp.conf", configs.ExabgpConf, cancellationToken));
        var verdicts = await Task.WhenAll(checks).ConfigureAwait(false);
        var failures = verdicts.Where(v => !v.Verdict.IsValid).Select(v => $"{v.File} failed {v.Verdict.Output}").ToList();
        if (failures.Count > 0)
        {
            (_rejected, _rejectedFailures) = (build.State, failures);
            return new ReconcileOutcome(ReconcileResult.Rejected, build, null, null, [], failures)
            {
                RenderDuration = System.Diagnostics.Stopwatch.GetElapsedTime(started, rendered),
                ApplyDuration = System.Diagnostics.Stopwatch.GetElapsedTime(rendered),
            };
        }

        // Marks and local routes first: a reloaded keepalived must find the packets its fwmark servers expect.
        var dataPlaneResult = dataPlane is null ? null : await dataPlane.ApplyAsync(build.State, cancellationToken).ConfigureAwait(false);
        var ipvsWrite = await AtomicFileWriter.WriteAsync(IpvsPath, configs.IpvsConf, cancellationToken).ConfigureAwait(false);
        var exabgpWrite = await AtomicFileWriter.WriteAsync(ExabgpPath, configs.ExabgpConf, cancellationToken, AtomicFileWriter.PrivateMode).ConfigureAwait(false);
        (_liveIpvs, _liveExabgp) = (configs.IpvsConf, configs.ExabgpConf);
        if (ipvsWrite == WriteOutcome.Written) _reloadDue.Add(Daemon.Keepalived);
        // With BGP off the file is only a comment that exabgp would refuse; exabgp keeps its last config until BGP returns.
        if (exabgpWrite == WriteOutcome.Written && bgpOn) _reloadDue.Add(Daemon.Exabgp);
        if (!bgpOn) _reloadDue.Remove(Daemon.Exabgp);
        (_applied, _rejected) = (build.State, null);
        if (bgpOn && exabgp is RouteOnlyChangeValidator shortcut)
        {
            _ = shortcut.PrewarmAsync(renderer.RenderExabgp(build.State with { Announcements = ValueList<Announcement>.Empty }));
        }

        var reloads = new List<(Daemon, ReloadResult)>();
        foreach (var daemon in _reloadDue.Order().ToList())
        {
            var result = await reloader.ReloadAsync(daemon, cancellationToken).ConfigureAwait(false);
            reloads.Add((daemon, result));
            // An unconfirmed reload stays due: the files are right, the daemon has yet to take them.
            if (result != ReloadResult.Unconfirmed) _reloadDue.Remove(daemon);
        }
        if (_reloadDue.Count > 0)
        {
            throw new InvalidOperationException($"{string.Join(", ", _reloadDue)} did not confirm loading the new config; retrying");
        }
        return new ReconcileOutcome(ReconcileResult.Applied, build, ipvsWrite, exabgpWrite, reloads, [])
        {
            DataPlaneWarnings = dataPlaneResult?.Warnings ?? [],
            RenderDuration = System.Diagnostics.Stopwatch.GetElapsedTime(started, rendered),
            ApplyDuration = System.Diagnostics.Stopwatch.GetElapsedTime(rendered),
        };
    }

    /// <summary>
    /// The first step of a graceful shutdown: exabgp keeps its sessions but announces nothing, so the router moves
    /// traffic to the other LB pods while keepalived here still serves the connections in flight.
    /// </summary>
    /// <returns>False when there was nothing to withdraw (BGP off, or nothing applied yet).</returns>
    public async Task<bool> WithdrawAsync(CancellationToken cancellationToken)
    {
        if (_applied?.Bgp is null) return false;
        var withdrawn = _applied with { Announcements = ValueList<Announcement>.Empty };
        var exabgpConf = renderer.RenderExabgp(withdrawn);
        var verdict = await exabgp.ValidateAsync(exabgpConf, cancellationToken).ConfigureAwait(false);
        if (!verdict.IsValid) throw new InvalidOperationException($"the withdrawal config failed exabgp's check: {verdict.Output}");
        var written = await AtomicFileWriter.WriteAsync(ExabgpPath, exabgpConf, cancellationToken, AtomicFileWriter.PrivateMode).ConfigureAwait(false);
        _liveExabgp = exabgpConf;
        if (written == WriteOutcome.Written)
        {
            await reloader.ReloadAsync(Daemon.Exabgp, cancellationToken).ConfigureAwait(false);
        }
        _applied = withdrawn;
        return true;
    }

    private static async Task<(string, ValidationResult)> CheckAsync(IConfigValidator validator, string file, string text, CancellationToken cancellationToken) =>
        (file, await validator.ValidateAsync(text, cancellationToken).ConfigureAwait(false));

    private static async Task<string?> ReadAsync(string path, CancellationToken cancellationToken) =>
        File.Exists(path) ? await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false) : null;
}
