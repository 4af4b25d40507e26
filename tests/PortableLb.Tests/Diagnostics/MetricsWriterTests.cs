using System.Globalization;
using System.Text.RegularExpressions;
using PortableLb.Apply;
using PortableLb.Diagnostics;
using PortableLb.Model;
using PortableLb.Reconcile;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Diagnostics;

public sealed partial class MetricsWriterTests
{
    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<labels>\{[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\\n]|\\.)*""(?:,[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\\n]|\\.)*"")*\})? (?<value>\S+)\z")]
    private static partial Regex Sample();

    [GeneratedRegex("_(bucket|sum|count)\\z")]
    private static partial Regex HistogramSuffix();

    /// <summary>Parses the exposition back the way Prometheus would, failing on anything it would reject.</summary>
    private static Dictionary<string, double> Parse(string text)
    {
        var typed = new HashSet<string>();
        var samples = new Dictionary<string, double>();
        foreach (var line in text.Split('\n').Where(l => l.Length > 0))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.That(parts[3], Is.AnyOf("counter", "gauge", "histogram"));
                Assert.That(typed.Add(parts[2]), Is.True, $"TYPE for {parts[2]} given twice");
                continue;
            }
            if (line.StartsWith("# HELP ", StringComparison.Ordinal)) continue;
            var match = Sample().Match(line);
            Assert.That(match.Success, Is.True, $"not a valid sample line: {line}");
            var family = HistogramSuffix().Replace(match.Groups["name"].Value, "");
            Assert.That(typed.Contains(match.Groups["name"].Value) || typed.Contains(family), Is.True, $"{line} has no TYPE before it");
            samples[match.Groups["name"].Value + match.Groups["labels"].Value] = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
        return samples;
    }

    [Test]
    public async Task The_exposition_parses_back_and_counts_what_the_last_reconcile_saw()
    {
        var status = new ReconcileStatus();
        var build = DesiredStateBuilder.Build(FromYaml(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2], conditions: {ready: false, serving: true, terminating: true}}]")
            + Service("bad", address: "nope")), WithPeer, Node);
        status.Record(new ReconcileOutcome(ReconcileResult.Applied, build, new Dictionary<ConfigFile, WriteOutcome>(), [], []) { Served = build.State }, TimeSpan.FromMilliseconds(12), DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));

        var samples = Parse(await new MetricsWriter(status).WriteAsync(sourcesReady: true));
        Assert.That(samples["portable_lb_reconciles_total{result=\"applied\"}"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_real_servers{state=\"ready\"}"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_real_servers{state=\"draining\"}"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_virtual_servers"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_announcements"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_rejected_objects"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_config_stale"], Is.Zero);
        Assert.That(samples["portable_lb_last_success_timestamp_seconds"], Is.EqualTo(1_800_000_000));
        Assert.That(samples["portable_lb_sources_ready"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_reconcile_duration_seconds_bucket{le=\"0.01\"}"], Is.Zero);
        Assert.That(samples["portable_lb_reconcile_duration_seconds_bucket{le=\"0.025\"}"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_reconcile_duration_seconds_bucket{le=\"+Inf\"}"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_reconcile_duration_seconds_sum"], Is.EqualTo(0.012).Within(1e-9));
        Assert.That(samples["portable_lb_render_duration_seconds_count"], Is.EqualTo(1));
    }

    [Test]
    public async Task Reloads_are_counted_by_daemon_and_result()
    {
        var status = new ReconcileStatus();
        var answers = new Queue<ReloadResult>([ReloadResult.Signalled, ReloadResult.Unconfirmed, ReloadResult.Signalled]);
        var reloader = new CountingReloader(new ScriptedReloader(answers), status);
        await reloader.ReloadAsync(PortableLb.Apply.Daemon.Exabgp, CancellationToken.None);
        await reloader.ReloadAsync(PortableLb.Apply.Daemon.Exabgp, CancellationToken.None);
        await reloader.ReloadAsync(PortableLb.Apply.Daemon.Keepalived, CancellationToken.None);
        var samples = Parse(await new MetricsWriter(status).WriteAsync(sourcesReady: true));
        Assert.That(samples["portable_lb_reloads_total{daemon=\"exabgp\",result=\"signalled\"}"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_reloads_total{daemon=\"exabgp\",result=\"unconfirmed\"}"], Is.EqualTo(1));
        Assert.That(samples["portable_lb_reloads_total{daemon=\"keepalived\",result=\"signalled\"}"], Is.EqualTo(1));
    }

    private sealed class ScriptedReloader(Queue<ReloadResult> answers) : PortableLb.Apply.IDaemonReloader
    {
        public Task<ReloadResult> ReloadAsync(PortableLb.Apply.Daemon daemon, CancellationToken cancellationToken) => Task.FromResult(answers.Dequeue());
    }

    [Test]
    public async Task A_failed_apply_shows_as_stale_config_and_a_failure_count()
    {
        var status = new ReconcileStatus();
        status.RecordFailure("disk full", DateTimeOffset.UtcNow);
        var samples = Parse(await new MetricsWriter(status).WriteAsync(sourcesReady: false));
        Assert.That((samples["portable_lb_config_stale"], samples["portable_lb_reconciles_total{result=\"failed\"}"], samples["portable_lb_sources_ready"]), Is.EqualTo((1.0, 1.0, 0.0)));
    }

    [Test]
    public async Task Data_plane_completeness_is_the_state_and_an_unchanged_reconcile_does_not_reset_it()
    {
        var status = new ReconcileStatus();
        var build = DesiredStateBuilder.Build(FromYaml(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}]")), WithPeer, Node);
        var noWrites = new Dictionary<ConfigFile, WriteOutcome>();
        status.Record(new ReconcileOutcome(ReconcileResult.Applied, build, noWrites, [], []) { DataPlane = new DataPlaneResult(["sysctl net.ipv4.vs.conntrack is 0"]) }, TimeSpan.Zero, DateTimeOffset.UtcNow);
        status.Record(new ReconcileOutcome(ReconcileResult.Unchanged, build, noWrites, [], []), TimeSpan.Zero, DateTimeOffset.UtcNow);
        Assert.That(Parse(await new MetricsWriter(status).WriteAsync(sourcesReady: true))["portable_lb_data_plane_complete"], Is.Zero);

        status.Record(new ReconcileOutcome(ReconcileResult.Applied, build, noWrites, [], []) { DataPlane = new DataPlaneResult([]) }, TimeSpan.Zero, DateTimeOffset.UtcNow);
        Assert.That(Parse(await new MetricsWriter(status).WriteAsync(sourcesReady: true))["portable_lb_data_plane_complete"], Is.EqualTo(1));
    }
}
