using PortableLb.Apply;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Validation;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Reconcile;

public sealed class ReconcilerTests
{
    private sealed class RecordingValidator(string daemon) : IConfigValidator
    {
        public List<string> Checked { get; } = [];
        public Func<string, bool> Accepts { get; set; } = _ => true;
        public string Daemon => daemon;

        public Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken)
        {
            Checked.Add(config);
            return Task.FromResult(Accepts(config) ? ValidationResult.Valid : new ValidationResult(false, $"{daemon} -t exited 1: bad line"));
        }
    }

    private sealed class RecordingReloader : IDaemonReloader
    {
        public List<Daemon> Reloaded { get; } = [];
        public Queue<ReloadResult> ExabgpAnswers { get; } = new();

        public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
        {
            Reloaded.Add(daemon);
            var answer = daemon == Daemon.Exabgp && ExabgpAnswers.Count > 0 ? ExabgpAnswers.Dequeue() : ReloadResult.Signalled;
            return Task.FromResult(answer);
        }
    }

    private string _folder = "";
    // NUnit reuses one fixture instance for all its tests, so the fakes are made fresh in SetUp.
    private RecordingValidator _keepalived = null!;
    private RecordingValidator _exabgp = null!;
    private RecordingReloader _reloader = null!;
    private Reconciler _reconciler = null!;

    private const string TwoReady = "[{addresses: [10.244.1.1]}, {addresses: [10.244.1.2]}]";
    private static readonly string Web = Service("web") + Slice("web", TwoReady, name: "web-1");

    [SetUp]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("portable-lb-reconcile-").FullName;
        (_keepalived, _exabgp, _reloader) = (new RecordingValidator("keepalived"), new RecordingValidator("exabgp"), new RecordingReloader());
        _reconciler = new Reconciler(new ConfigRenderer(TemplateSet.Embedded()), _keepalived, _exabgp, _reloader, _folder);
    }

    [TearDown]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    private Task<ReconcileOutcome> Reconcile(string yaml, PortableLb.Tuning.TuningSettings? tuning = null) =>
        _reconciler.ReconcileAsync(FromYaml(yaml), tuning ?? WithPeer, Node, null, CancellationToken.None);

    [Test]
    public async Task The_first_reconcile_validates_writes_and_reloads_both_daemons()
    {
        var outcome = await Reconcile(Web);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That((_keepalived.Checked.Count, _exabgp.Checked.Count), Is.EqualTo((1, 1)));
        Assert.That(_reloader.Reloaded, Is.EqualTo(new[] { Daemon.Keepalived, Daemon.Exabgp }));
        Assert.That(File.ReadAllText(_reconciler.IpvsPath), Is.EqualTo(_keepalived.Checked[0]), "what was validated is what went live");
    }

    [Test]
    public async Task An_equal_snapshot_renders_writes_and_signals_nothing()
    {
        await Reconcile(Web);
        var outcome = await Reconcile(Web);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Unchanged));
        Assert.That((_keepalived.Checked.Count, _exabgp.Checked.Count, _reloader.Reloaded.Count), Is.EqualTo((1, 1, 2)));
    }

    [Test]
    public async Task An_endpoint_change_validates_and_reloads_keepalived_only()
    {
        await Reconcile(Web);
        var outcome = await Reconcile(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}]", name: "web-1"));
        Assert.That((outcome.Ipvs, outcome.Exabgp), Is.EqualTo((WriteOutcome.Written, WriteOutcome.Unchanged)));
        Assert.That((_keepalived.Checked.Count, _exabgp.Checked.Count), Is.EqualTo((2, 1)), "exabgp's 0.3 s check is skipped");
        Assert.That(_reloader.Reloaded, Is.EqualTo(new[] { Daemon.Keepalived, Daemon.Exabgp, Daemon.Keepalived }));
    }

    [Test]
    public async Task A_rejected_candidate_writes_nothing_keeps_the_last_good_files_and_is_not_rechecked()
    {
        await Reconcile(Web);
        var good = File.ReadAllText(_reconciler.IpvsPath);
        _keepalived.Accepts = text => !text.Contains("10.244.1.3");

        var bad = Service("web") + Slice("web", "[{addresses: [10.244.1.3]}]", name: "web-1");
        var outcome = await Reconcile(bad);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Rejected));
        Assert.That(outcome.Failures.Single(), Does.StartWith("ipvs.conf failed keepalived -t exited 1: bad line"));
        Assert.That(File.ReadAllText(_reconciler.IpvsPath), Is.EqualTo(good));
        Assert.That(_reloader.Reloaded, Has.Count.EqualTo(2), "no reload after a rejection");

        Assert.That((await Reconcile(bad)).Result, Is.EqualTo(ReconcileResult.Rejected));
        Assert.That(_keepalived.Checked, Has.Count.EqualTo(2), "the same bad input is not validated twice");

        Assert.That((await Reconcile(Web + Service("api", address: "192.0.2.11") + Slice("api", TwoReady, name: "api-1"))).Result, Is.EqualTo(ReconcileResult.Applied), "the next change goes through");
    }

    [Test]
    public async Task With_BGP_off_exabgp_is_neither_validated_nor_reloaded()
    {
        var outcome = await Reconcile(Web, PortableLb.Tuning.TuningSettings.Default);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(_exabgp.Checked, Is.Empty);
        Assert.That(_reloader.Reloaded, Is.EqualTo(new[] { Daemon.Keepalived }));
        Assert.That(File.ReadAllText(_reconciler.ExabgpPath), Does.StartWith("# BGP is off"));
    }

    [Test]
    public async Task A_bad_Service_is_dropped_with_its_error_and_the_others_are_applied()
    {
        var outcome = await Reconcile(Web + Service("broken", address: "not-an-ip") + Slice("broken", TwoReady, name: "broken-1"));
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(outcome.Build.Errors.Single().Object.Name, Is.EqualTo("broken"));
        Assert.That(File.ReadAllText(_reconciler.IpvsPath), Does.Contain("192.0.2.10 80"));
    }

    [Test]
    public async Task An_unconfirmed_reload_fails_the_pass_and_is_retried_on_the_next_one_without_new_input()
    {
        _reloader.ExabgpAnswers.Enqueue(ReloadResult.Unconfirmed);
        Assert.That(async () => await Reconcile(Web), Throws.InvalidOperationException.With.Message.Contains("Exabgp did not confirm"));

        var retry = await Reconcile(Web);
        Assert.That(retry.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(retry.Reloads, Is.EqualTo(new[] { (Daemon.Exabgp, ReloadResult.Signalled) }), "only the daemon still due, with unchanged files");
        Assert.That((await Reconcile(Web)).Result, Is.EqualTo(ReconcileResult.Unchanged));
    }

    [Test]
    public async Task A_config_error_touches_nothing()
    {
        var outcome = await _reconciler.ReconcileAsync(FromYaml(Web), WithPeer, PortableLb.Model.NodeAddresses.None, null, CancellationToken.None);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.ConfigError));
        Assert.That(File.Exists(_reconciler.IpvsPath), Is.False);
        Assert.That(_reloader.Reloaded, Is.Empty);
    }

    [Test]
    public async Task The_real_keepalived_accepts_what_the_reconciler_writes()
    {
        Daemons.Require("keepalived", "exabgp");
        var runner = new ProcessRunner();
        var reconciler = new Reconciler(new ConfigRenderer(TemplateSet.Embedded()), new KeepalivedValidator(runner), new ExabgpValidator(runner), _reloader, _folder);
        var outcome = await reconciler.ReconcileAsync(FromYaml(Web), WithPeer, Node, null, CancellationToken.None);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied), string.Join("\n", outcome.Failures));
    }
}
