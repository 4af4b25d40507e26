using PortableLb.Apply;
using PortableLb.Common;
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
    IReadOnlyDictionary<ConfigFile, WriteOutcome> Writes,
    IReadOnlyList<(Daemon Daemon, ReloadResult Result)> Reloads,
    IReadOnlyList<string> Failures)
{
    /// <summary>The state as written: the build's, with only the announcements this pod serves (<see cref="ServingGate"/>).</summary>
    public DesiredState? Served { get; init; }

    /// <summary>Daemons whose new config is on disk but which have not confirmed loading it; retried with backoff.</summary>
    public IReadOnlyList<Daemon> PendingReloads { get; init; } = [];

    /// <summary>What the data plane looked like after this apply; null when the data plane was not touched.</summary>
    public DataPlaneResult? DataPlane { get; init; }

    /// <summary>Something is left to retry without new input: a reload not confirmed, a data plane step not done.</summary>
    public bool Unsettled => PendingReloads.Count > 0 || DataPlane?.Unfinished == true;

    /// <summary>Build and render; zero when the desired state was unchanged.</summary>
    public TimeSpan RenderDuration { get; init; }

    /// <summary>Validate, data plane, write and reload; zero when nothing was applied.</summary>
    public TimeSpan ApplyDuration => Phases.Validate + Phases.DataPlane + Phases.Write + Phases.Reload;

    /// <summary>Where <see cref="ApplyDuration"/> went, so a slow apply says which step was slow.</summary>
    public ApplyPhases Phases { get; init; } = ApplyPhases.None;
}

/// <summary>The apply's steps, each timed: the daemons' checks, the data plane, the atomic writes, the confirmed reloads.</summary>
public sealed record ApplyPhases(TimeSpan Validate, TimeSpan DataPlane, TimeSpan Write, TimeSpan Reload)
{
    public static ApplyPhases None { get; } = new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    public override string ToString() => FormattableString.Invariant(
        $"validate {Validate.TotalSeconds:0.###} s, data plane {DataPlane.TotalSeconds:0.###} s, write {Write.TotalSeconds:0.###} s, reload {Reload.TotalSeconds:0.###} s");
}

/// <summary>
/// The one pipeline from a whole snapshot to live daemon files, shared by `render` (once, with no daemons), `run`
/// (on every change) and the graceful withdrawal (the applied state without its announcements): build, render,
/// validate what changed, data plane, write atomically, reload the daemons whose file changed. The order is fixed
/// here and only here. A rejected candidate leaves the live files alone and is remembered, so the same bad input is
/// not validated again until something changes.
/// </summary>
public sealed class Reconciler
{
    private readonly ConfigRenderer _renderer;
    private readonly IReadOnlyDictionary<ConfigFile, IConfigValidator> _validators;
    private readonly IDaemonReloader _reloader;
    private readonly DataPlane? _dataPlane;
    private readonly HashSet<Daemon> _reloadDue = [];
    // A route or the ruleset that did not go in (nft timed out, say): the next pass applies again, even unchanged.
    private bool _dataPlaneDue;

    // The text this reconciler validated and wrote for each file: a first apply (a restart) validates everything.
    private readonly Dictionary<ConfigFile, string> _written = [];
    private DesiredState? _applied;
    private DesiredState? _rejected;
    private IReadOnlyList<string> _rejectedFailures = [];

    public Reconciler(TemplateSet templates, IConfigValidator keepalived, IConfigValidator exabgp, IDaemonReloader reloader, ConfigFiles files, DataPlane? dataPlane = null)
    {
        Files = files;
        _renderer = new ConfigRenderer(templates, files.KeepalivedReload);
        _validators = new Dictionary<ConfigFile, IConfigValidator> { [ConfigFiles.Ipvs] = keepalived, [ConfigFiles.Exabgp] = exabgp };
        _reloader = reloader;
        _dataPlane = dataPlane;
    }

    public ConfigFiles Files { get; }

    /// <summary>One pass from a whole snapshot; `facts` says what this pod serves now, and announcements it does not serve are left out (<see cref="ServingGate"/>).</summary>
    public async Task<ReconcileOutcome> ReconcileAsync(ClusterSnapshot snapshot, TuningSettings tuning, NodeAddresses node, IReadOnlyCollection<ServiceName>? only, ServingFacts facts, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var build = DesiredStateBuilder.Build(snapshot, tuning, node, only);
        if (build.ConfigErrors.Count > 0)
        {
            return new ReconcileOutcome(ReconcileResult.ConfigError, build, Empty, [], build.ConfigErrors.Select(e => e.ToString()).ToList());
        }
        var served = build.State with { Announcements = ServingGate.Announceable(build.State, facts) };
        if (served.Equals(_applied) && _reloadDue.Count == 0 && !_dataPlaneDue && await FilesIntactAsync(cancellationToken).ConfigureAwait(false))
        {
            return new ReconcileOutcome(ReconcileResult.Unchanged, build, Empty, [], []) { Served = served };
        }
        if (served.Equals(_rejected)) return new ReconcileOutcome(ReconcileResult.Rejected, build, Empty, [], _rejectedFailures) { Served = served };
        return await ApplyAsync(build, served, started, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The first step of a graceful shutdown: the applied state without its announcements, through the same pipeline.
    /// exabgp keeps its sessions but announces nothing, so the router moves traffic to the other LB pods while
    /// keepalived here still serves the connections in flight.
    /// </summary>
    /// <returns>False when there was nothing to withdraw (BGP off, or nothing applied yet).</returns>
    public async Task<bool> WithdrawAsync(CancellationToken cancellationToken)
    {
        if (_applied?.Bgp is null) return false;
        var withdrawn = _applied with { Announcements = ValueList<Announcement>.Empty };
        var outcome = await ApplyAsync(new BuildResult(withdrawn, [], [], [], []), withdrawn, System.Diagnostics.Stopwatch.GetTimestamp(), cancellationToken).ConfigureAwait(false);
        if (outcome.Result != ReconcileResult.Applied) throw new InvalidOperationException($"the withdrawal was not applied: {string.Join("; ", outcome.Failures)}");
        return true;
    }

    private async Task<ReconcileOutcome> ApplyAsync(BuildResult build, DesiredState state, long started, CancellationToken cancellationToken)
    {
        var bgpOn = state.Bgp is not null;
        var rendered = _renderer.Render(state);
        var renderedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        // Announcements held back until IPVS serves them (a pod's start, a new Service) follow within seconds: exabgp
        // judges their shape beside this check instead of after it.
        if (bgpOn && build.State.Announcements.Count > state.Announcements.Count) _validators[ConfigFiles.Exabgp].Anticipate(_renderer.RenderExabgp(build.State));
        var texts = new Dictionary<ConfigFile, string> { [ConfigFiles.Ipvs] = rendered.IpvsConf, [ConfigFiles.Exabgp] = rendered.ExabgpConf };

        // Validate only what would change, and all of it before writing any: exabgp's check alone costs ~0.3 s.
        var checks = ConfigFiles.All.Where(f => IsLoaded(f, bgpOn) && texts[f] != _written.GetValueOrDefault(f)).Select(f => CheckAsync(f, texts[f], cancellationToken));
        var failures = (await Task.WhenAll(checks).ConfigureAwait(false)).OfType<string>().ToList();
        var validated = System.Diagnostics.Stopwatch.GetTimestamp();
        if (failures.Count > 0)
        {
            (_rejected, _rejectedFailures) = (state, failures);
            return new ReconcileOutcome(ReconcileResult.Rejected, build, Empty, [], failures)
            {
                Served = state,
                RenderDuration = System.Diagnostics.Stopwatch.GetElapsedTime(started, renderedAt),
                Phases = ApplyPhases.None with { Validate = System.Diagnostics.Stopwatch.GetElapsedTime(renderedAt, validated) },
            };
        }

        // Marks and local routes first: a reloaded keepalived must find the packets its fwmark servers expect.
        var dataPlane = _dataPlane is null ? null : await _dataPlane.ApplyAsync(state, cancellationToken).ConfigureAwait(false);
        _dataPlaneDue = dataPlane?.Unfinished == true;
        var dataPlaneDone = System.Diagnostics.Stopwatch.GetTimestamp();
        var writes = new Dictionary<ConfigFile, WriteOutcome>();
        foreach (var file in ConfigFiles.All)
        {
            writes[file] = await AtomicFileWriter.WriteAsync(Files.PathOf(file), texts[file], file.Mode, cancellationToken).ConfigureAwait(false);
            _written[file] = texts[file];
            if (writes[file] == WriteOutcome.Written && IsLoaded(file, bgpOn)) _reloadDue.Add(file.Reader);
        }
        // exabgp keeps its last config while BGP is off, until BGP returns.
        if (!bgpOn) _reloadDue.Remove(Daemon.Exabgp);
        (_applied, _rejected) = (state, null);
        var writtenAt = System.Diagnostics.Stopwatch.GetTimestamp();
        if (bgpOn) _validators[ConfigFiles.Exabgp].Anticipate(_renderer.RenderExabgp(state with { Announcements = ValueList<Announcement>.Empty }));

        // keepalived first: a new virtual server must be programmed before anything could announce it.
        var reloads = new List<(Daemon, ReloadResult)>();
        foreach (var daemon in _reloadDue.Order().ToList())
        {
            var result = await _reloader.ReloadAsync(daemon, cancellationToken).ConfigureAwait(false);
            reloads.Add((daemon, result));
            // An unconfirmed reload stays due (the files are right; the daemon has yet to take them) and the loop
            // retries it with backoff. It never holds up the next change: exabgp ignores SIGUSR1 for as long as a
            // peer is unreachable.
            if (result != ReloadResult.Unconfirmed) _reloadDue.Remove(daemon);
        }
        return new ReconcileOutcome(ReconcileResult.Applied, build, writes, reloads, [])
        {
            Served = state,
            PendingReloads = _reloadDue.Order().ToList(),
            DataPlane = dataPlane,
            RenderDuration = System.Diagnostics.Stopwatch.GetElapsedTime(started, renderedAt),
            Phases = new ApplyPhases(
                System.Diagnostics.Stopwatch.GetElapsedTime(renderedAt, validated),
                System.Diagnostics.Stopwatch.GetElapsedTime(validated, dataPlaneDone),
                System.Diagnostics.Stopwatch.GetElapsedTime(dataPlaneDone, writtenAt),
                System.Diagnostics.Stopwatch.GetElapsedTime(writtenAt)),
        };
    }

    /// <summary>
    /// The live state is what is on disk, not what this controller meant to write: a file deleted or edited behind
    /// its back (keepalived would restart-loop on a missing one) sends the pass through the apply, which rewrites it
    /// and reloads its daemon.
    /// </summary>
    private async Task<bool> FilesIntactAsync(CancellationToken cancellationToken)
    {
        foreach (var (file, text) in _written)
        {
            if (!await AtomicFileWriter.HoldsAsync(Files.PathOf(file), text, cancellationToken).ConfigureAwait(false)) return false;
        }
        return true;
    }

    /// <summary>With BGP off, exabgp.conf is only a comment that exabgp would refuse: written, never checked or loaded.</summary>
    private static bool IsLoaded(ConfigFile file, bool bgpOn) => file != ConfigFiles.Exabgp || bgpOn;

    /// <returns>Null when the daemon accepts the text; otherwise what it said, naming the file.</returns>
    private async Task<string?> CheckAsync(ConfigFile file, string text, CancellationToken cancellationToken)
    {
        var validator = _validators[file];
        var verdict = await validator.ValidateAsync(text, cancellationToken).ConfigureAwait(false);
        return verdict.IsValid ? null : $"{file.Name} failed {validator.Daemon}'s check: {verdict.Output}";
    }

    private static readonly IReadOnlyDictionary<ConfigFile, WriteOutcome> Empty = new Dictionary<ConfigFile, WriteOutcome>();
}
