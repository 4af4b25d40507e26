using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;
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
        public List<string> Anticipated { get; } = [];
        public Func<string, bool> Accepts { get; set; } = _ => true;
        public string Daemon => daemon;

        public void Anticipate(string config) => Anticipated.Add(config);

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
        _reconciler = new Reconciler(TemplateSet.Embedded(), _keepalived, _exabgp, _reloader, new ConfigFiles(_folder));
    }

    [TearDown]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    private string IpvsPath => _reconciler.Files.PathOf(ConfigFiles.Ipvs);
    private string ExabgpPath => _reconciler.Files.PathOf(ConfigFiles.Exabgp);

    private Task<ReconcileOutcome> Reconcile(string yaml, PortableLb.Tuning.TuningSettings? tuning = null, ServingFacts? facts = null) =>
        _reconciler.ReconcileAsync(FromYaml(yaml), tuning ?? WithPeer, Node, null, facts ?? ServingFacts.Ungated, CancellationToken.None);

    [Test]
    public async Task The_first_reconcile_validates_writes_and_reloads_both_daemons()
    {
        var outcome = await Reconcile(Web);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That((_keepalived.Checked.Count, _exabgp.Checked.Count), Is.EqualTo((1, 1)));
        Assert.That(_reloader.Reloaded, Is.EqualTo(new[] { Daemon.Keepalived, Daemon.Exabgp }));
        Assert.That(File.ReadAllText(IpvsPath), Is.EqualTo(_keepalived.Checked[0]), "what was validated is what went live");
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
    public async Task A_config_file_deleted_or_edited_behind_its_back_is_rewritten_and_its_daemon_reloaded()
    {
        await Reconcile(Web);
        var ipvs = File.ReadAllText(IpvsPath);
        _reloader.Reloaded.Clear();

        // `keepalived -t` passes a missing file, and keepalived restart-loops on it: the live state is the disk.
        File.Delete(IpvsPath);
        var outcome = await Reconcile(Web);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(File.ReadAllText(IpvsPath), Is.EqualTo(ipvs));
        Assert.That(_reloader.Reloaded, Is.EqualTo(new[] { Daemon.Keepalived }));

        File.AppendAllText(ExabgpPath, "# edited by hand\n");
        _reloader.Reloaded.Clear();
        outcome = await Reconcile(Web);
        Assert.That(outcome.Writes[ConfigFiles.Exabgp], Is.EqualTo(WriteOutcome.Written));
        Assert.That(_reloader.Reloaded, Is.EqualTo(new[] { Daemon.Exabgp }));
    }

    [Test]
    public async Task After_a_write_that_failed_halfway_the_daemon_whose_file_was_written_is_still_reloaded()
    {
        await Reconcile(Web);
        _reloader.Reloaded.Clear();
        // exabgp.conf cannot be replaced (a folder in its place stands in for a full disk) after ipvs.conf was.
        File.Delete(ExabgpPath);
        Directory.CreateDirectory(Path.Combine(ExabgpPath, "blocker"));
        var moved = Web.Replace("10.244.1.2", "10.244.1.3");
        Assert.ThrowsAsync<IOException>(() => Reconcile(moved));
        Assert.That(File.ReadAllText(IpvsPath), Does.Contain("10.244.1.3"));
        Assert.That(_reloader.Reloaded, Is.Empty, "nothing is signalled in the middle of a failed apply");

        Directory.Delete(ExabgpPath, recursive: true);
        var outcome = await Reconcile(moved);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(outcome.Writes[ConfigFiles.Ipvs], Is.EqualTo(WriteOutcome.Unchanged), "ipvs.conf already held the new text");
        Assert.That(_reloader.Reloaded, Does.Contain(Daemon.Keepalived), "keepalived never loaded the ipvs.conf written before the failure");
    }

    [Test]
    public async Task An_endpoint_change_validates_and_reloads_keepalived_only()
    {
        await Reconcile(Web);
        var outcome = await Reconcile(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}]", name: "web-1"));
        Assert.That((outcome.Writes[ConfigFiles.Ipvs], outcome.Writes[ConfigFiles.Exabgp]), Is.EqualTo((WriteOutcome.Written, WriteOutcome.Unchanged)));
        Assert.That((_keepalived.Checked.Count, _exabgp.Checked.Count), Is.EqualTo((2, 1)), "exabgp's 0.3 s check is skipped");
        Assert.That(_reloader.Reloaded, Is.EqualTo(new[] { Daemon.Keepalived, Daemon.Exabgp, Daemon.Keepalived }));
    }

    [Test]
    public async Task A_rejected_candidate_writes_nothing_keeps_the_last_good_files_and_is_not_rechecked()
    {
        await Reconcile(Web);
        var good = File.ReadAllText(IpvsPath);
        _keepalived.Accepts = text => !text.Contains("10.244.1.3");

        var bad = Service("web") + Slice("web", "[{addresses: [10.244.1.3]}]", name: "web-1");
        var outcome = await Reconcile(bad);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Rejected));
        Assert.That(outcome.Failures.Single(), Is.EqualTo("ipvs.conf failed keepalived's check: keepalived -t exited 1: bad line"));
        Assert.That(File.ReadAllText(IpvsPath), Is.EqualTo(good));
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
        Assert.That(File.ReadAllText(ExabgpPath), Does.StartWith("# BGP is off"));
    }

    [Test]
    public async Task A_bad_Service_is_dropped_with_its_error_and_the_others_are_applied()
    {
        var outcome = await Reconcile(Web + Service("broken", address: "not-an-ip") + Slice("broken", TwoReady, name: "broken-1"));
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(outcome.Build.Errors.Single().Object.Name, Is.EqualTo("broken"));
        Assert.That(File.ReadAllText(IpvsPath), Does.Contain("192.0.2.10 80"));
    }

    [Test]
    public async Task An_unconfirmed_reload_is_left_pending_and_retried_on_the_next_pass_without_new_input()
    {
        _reloader.ExabgpAnswers.Enqueue(ReloadResult.Unconfirmed);
        var first = await Reconcile(Web);
        Assert.That(first.Result, Is.EqualTo(ReconcileResult.Applied), "the files are right; only the daemon lags");
        Assert.That(first.PendingReloads, Is.EqualTo(new[] { Daemon.Exabgp }));

        var retry = await Reconcile(Web);
        Assert.That(retry.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(retry.Reloads, Is.EqualTo(new[] { (Daemon.Exabgp, ReloadResult.Signalled) }), "only the daemon still due, with unchanged files");
        Assert.That(retry.PendingReloads, Is.Empty);
        Assert.That((await Reconcile(Web)).Result, Is.EqualTo(ReconcileResult.Unchanged));
    }

    /// <summary>nft fails as often as told (a timeout, as under load), then succeeds; `ip` lists no routes of ours.</summary>
    private sealed class FlakyNft(int failures) : IProcessRunner
    {
        public int NftRuns { get; private set; }

        public Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (program != "nft") return Task.FromResult(new ProcessResult(0, "[]", ""));
            NftRuns++;
            return Task.FromResult(NftRuns <= failures ? new ProcessResult(-1, "", "nft did not finish within 10 s and was killed") : new ProcessResult(0, "", ""));
        }
    }

    [Test]
    public async Task A_ruleset_that_did_not_go_in_is_applied_again_on_the_next_pass_without_new_input_and_nothing_is_rewritten()
    {
        var nft = new FlakyNft(failures: 1);
        _reconciler = new Reconciler(TemplateSet.Embedded(), _keepalived, _exabgp, _reloader, new ConfigFiles(_folder), new DataPlane(nft, _folder));

        var first = await Reconcile(Web);
        Assert.That(first.Result, Is.EqualTo(ReconcileResult.Applied), "the files are right; only the data plane lags");
        Assert.That(first.DataPlane!.Unfinished, Is.True);
        Assert.That(first.DataPlane.Warnings, Has.Some.Contains("masquerade were not installed"));
        Assert.That(first.Unsettled, Is.True, "the loop retries with backoff");

        _reloader.Reloaded.Clear();
        var retry = await Reconcile(Web);
        Assert.That(retry.Result, Is.EqualTo(ReconcileResult.Applied));
        Assert.That(nft.NftRuns, Is.EqualTo(2));
        Assert.That(retry.Writes.Values, Has.All.EqualTo(WriteOutcome.Unchanged), "unchanged bytes are not written");
        Assert.That(_reloader.Reloaded, Is.Empty, "nor signalled");
        Assert.That((retry.DataPlane!.Unfinished, retry.Unsettled), Is.EqualTo((false, false)));

        Assert.That((await Reconcile(Web)).Result, Is.EqualTo(ReconcileResult.Unchanged));
        Assert.That(nft.NftRuns, Is.EqualTo(2));
    }

    [Test]
    public async Task An_exabgp_that_never_confirms_does_not_hold_up_ipvs_changes()
    {
        for (var i = 0; i < 10; i++) _reloader.ExabgpAnswers.Enqueue(ReloadResult.Unconfirmed);
        await Reconcile(Web);
        var outcome = await Reconcile(Service("web") + Slice("web", "[{addresses: [10.244.1.1]}]", name: "web-1"));
        Assert.That(outcome.Writes[ConfigFiles.Ipvs], Is.EqualTo(WriteOutcome.Written));
        Assert.That(outcome.Reloads, Does.Contain((Daemon.Keepalived, ReloadResult.Signalled)));
        Assert.That(outcome.PendingReloads, Is.EqualTo(new[] { Daemon.Exabgp }));
        Assert.That(File.ReadAllText(IpvsPath), Does.Not.Contain("10.244.1.2"));
    }

    [Test]
    public async Task An_address_is_announced_only_once_keepalived_serves_it_and_withdrawn_when_keepalived_stops()
    {
        var notYet = await Reconcile(Web, facts: new ServingFacts(true, IpvsTable.Empty));
        Assert.That(File.ReadAllText(ExabgpPath), Does.Not.Contain("route "), "ipvs.conf is written, IPVS does not have it yet");
        Assert.That(notYet.Build.State.Announcements, Has.Count.EqualTo(1), "the cluster still asks for it");

        var programmed = IpvsTable.Parse("TCP  C000020A:0050 lc\n  -> 0AF40101:1F90      Masq    1      0          0\n");
        await Reconcile(Web, facts: new ServingFacts(true, programmed));
        Assert.That(File.ReadAllText(ExabgpPath), Does.Contain("route 192.0.2.10/32"));

        await Reconcile(Web, facts: new ServingFacts(false, programmed));
        Assert.That(File.ReadAllText(ExabgpPath), Does.Not.Contain("route "), "keepalived stopped");
        Assert.That(_reloader.Reloaded.Count(d => d == Daemon.Exabgp), Is.EqualTo(3));
    }

    [Test]
    public async Task A_config_error_touches_nothing()
    {
        var outcome = await _reconciler.ReconcileAsync(FromYaml(Web), WithPeer, PortableLb.Model.NodeAddresses.None, null, ServingFacts.Ungated, CancellationToken.None);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.ConfigError));
        Assert.That(File.Exists(IpvsPath), Is.False);
        Assert.That(_reloader.Reloaded, Is.Empty);
    }

    [Test]
    public async Task The_real_keepalived_accepts_what_the_reconciler_writes()
    {
        Daemons.Require("keepalived", "exabgp");
        var runner = new ProcessRunner();
        var reconciler = new Reconciler(TemplateSet.Embedded(), new KeepalivedValidator(runner), new ExabgpValidator(runner), _reloader, new ConfigFiles(_folder));
        var outcome = await reconciler.ReconcileAsync(FromYaml(Web), WithPeer, Node, null, ServingFacts.Ungated, CancellationToken.None);
        Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied), string.Join("\n", outcome.Failures));
    }

    [Test]
    public async Task The_withdrawal_is_the_same_pipeline_with_no_announcements_validated_written_and_reloaded()
    {
        await Reconcile(Web);
        var ipvs = File.ReadAllText(IpvsPath);
        Assert.That(File.ReadAllText(ExabgpPath), Does.Contain("route 192.0.2.10/32"));

        Assert.That(await _reconciler.WithdrawAsync(CancellationToken.None), Is.True);

        Assert.That(File.ReadAllText(ExabgpPath), Does.Not.Contain("route ").And.Contain("neighbor"), "the sessions stay, the routes go");
        Assert.That(_exabgp.Checked.Last(), Is.EqualTo(File.ReadAllText(ExabgpPath)), "what was validated is what went live");
        Assert.That(File.ReadAllText(IpvsPath), Is.EqualTo(ipvs), "keepalived keeps serving as before");
        Assert.That(_keepalived.Checked, Has.Count.EqualTo(1), "an unchanged ipvs.conf is not checked again");
        Assert.That(_reloader.Reloaded.Last(), Is.EqualTo(Daemon.Exabgp));
    }

    [Test]
    public async Task After_each_apply_exabgp_is_told_of_the_withdrawal_it_may_need_next()
    {
        await Reconcile(Web);
        Assert.That(_exabgp.Anticipated.Single(), Does.Contain("neighbor").And.Not.Contain("route "));
        Assert.That(_keepalived.Anticipated, Is.Empty);
    }

    [Test]
    public async Task Announcements_held_back_until_IPVS_serves_them_are_judged_beside_the_first_check()
    {
        await Reconcile(Web, facts: new ServingFacts(true, IpvsTable.Empty));
        Assert.That(_exabgp.Checked.Single(), Does.Not.Contain("route "), "what goes live now has no routes");
        Assert.That(_exabgp.Anticipated.First(), Does.Contain("route 192.0.2.10/32"), "the config that follows once IPVS serves the address");

        _exabgp.Anticipated.Clear();
        await Reconcile(Web + Service("api", address: "192.0.2.11") + Slice("api", TwoReady, name: "api-1"));
        Assert.That(_exabgp.Anticipated.Single(), Does.Not.Contain("route "), "nothing held back: only the withdrawal is anticipated");
    }

    [Test]
    public async Task A_withdrawal_the_exabgp_check_rejects_throws_and_leaves_the_routes_announced()
    {
        await Reconcile(Web);
        var announced = File.ReadAllText(ExabgpPath);
        _exabgp.Accepts = text => text.Contains("route ");
        Assert.That(async () => await _reconciler.WithdrawAsync(CancellationToken.None), Throws.InvalidOperationException.With.Message.Contains("exabgp.conf failed exabgp's check"));
        Assert.That(File.ReadAllText(ExabgpPath), Is.EqualTo(announced));
    }

    [Test]
    public async Task The_ipvs_conf_names_keepalived_s_reload_file_in_the_config_folder()
    {
        await Reconcile(Web);
        Assert.That(File.ReadAllText(IpvsPath), Does.Contain($"reload_file {_reconciler.Files.KeepalivedReload}"));
    }
}
