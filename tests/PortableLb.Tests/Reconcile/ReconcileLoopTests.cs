using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Apply;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Reconcile;

/// <summary>
/// The loop on virtual time (FakeTimeProvider, counting the timers the loop makes): nothing waits on the wall clock,
/// so debounce, coalescing, retry backoff and shutdown are checked exactly. The reconciler is the real one, with daemons that answer from memory.
/// </summary>
[CancelAfter(20_000)]
public sealed class ReconcileLoopTests
{
    // No resync: these tests count every timer the loop makes; the resync has its own test.
    private static readonly ReconcileLoopOptions Options = new(Debounce: TimeSpan.FromMilliseconds(30), InitialRetry: TimeSpan.FromMilliseconds(500), MaxRetry: TimeSpan.FromSeconds(30)) { Resync = Timeout.InfiniteTimeSpan };

    private sealed class StubSource : IClusterSource
    {
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile ClusterSnapshot _snapshot = ClusterSnapshot.Empty;

        public Task Ready => _ready.Task;
        public ChangeSignal Changes { get; } = new();
        public ClusterSnapshot Snapshot() => _snapshot;
        public IReadOnlyList<SourceHealth> Health() => [];
        public Task RunAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void MarkReady() => _ready.TrySetResult();

        public void Publish(string yaml)
        {
            _snapshot = FromYaml(yaml);
            Changes.Set();
        }
    }

    private sealed class ScriptedReloader : IDaemonReloader
    {
        public int Unconfirmed { get; set; }
        public int Calls;

        public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            if (Unconfirmed > 0)
            {
                Unconfirmed--;
                return Task.FromResult(ReloadResult.Unconfirmed);
            }
            return Task.FromResult(ReloadResult.Signalled);
        }
    }

    /// <summary>A keepalived -t that is missing for its first `Throws` calls, then accepts everything.</summary>
    private sealed class FlakyValidator : IConfigValidator
    {
        public int Throws { get; set; }
        public string Daemon => "keepalived";

        public Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken)
        {
            if (Throws-- > 0) throw new PortableLb.Common.MissingProgramException("keepalived", new IOException("not installed"));
            return Task.FromResult(ValidationResult.Valid);
        }
    }

    private sealed class FixedTuning : ITuningProvider
    {
        public (TuningSettings Tuning, IReadOnlyList<TuningError> Errors) Current(ClusterSnapshot snapshot) => (TuningSettings.Default, []);
    }

    private string _folder = "";
    private CountingTime _time = null!;
    private StubSource _source = null!;
    private ScriptedReloader _reloader = null!;
    private FlakyValidator _keepalived = null!;
    private ReconcileStatus _status = null!;
    private CancellationTokenSource _stop = null!;
    private Task _loop = Task.CompletedTask;

    [SetUp]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("portable-lb-loop-").FullName;
        (_time, _source, _reloader, _status, _stop) = (new CountingTime(), new StubSource(), new ScriptedReloader(), new ReconcileStatus(), new CancellationTokenSource());
        _keepalived = new FlakyValidator();
        var reconciler = new Reconciler(TemplateSet.Embedded(), _keepalived, new SkippedValidation("exabgp"), _reloader, new ConfigFiles(_folder));
        var loop = new ReconcileLoop(_source, new FixedTuning(), reconciler, Node, null, Options, _status, NullLogger<ReconcileLoop>.Instance, _time);
        _loop = Task.Run(() => loop.RunAsync(_stop.Token));
    }

    [TearDown]
    public async Task Cleanup()
    {
        await _stop.CancelAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private static string Web(int endpoints) =>
        Service("web") + Slice("web", "[" + string.Join(", ", Enumerable.Range(1, endpoints).Select(i => $"{{addresses: [10.244.1.{i}]}}")) + "]", name: "web-1");

    private long Reconciles => _status.Counts.Values.Sum() + _status.Failures;

    private string Ipvs => File.ReadAllText(Path.Combine(_folder, "ipvs.conf"));

    /// <summary>Lets the loop run what virtual time has made due (its continuations run on the thread pool).</summary>
    private static Task Settle() => Task.Delay(50);

    private Task Advance(int milliseconds)
    {
        _time.Advance(TimeSpan.FromMilliseconds(milliseconds));
        return Settle();
    }

    /// <summary>
    /// Waits (in real time) until the loop has made its n-th timer: only then is it waiting on virtual time, so an
    /// Advance reaches that timer. A timer made after an Advance would count from the new "now".
    /// </summary>
    private async Task TimerCreated(int n)
    {
        await Eventually(() => _time.TimersCreated >= n);
        Assert.That(_time.TimersCreated, Is.EqualTo(n), "the loop made more timers than expected");
    }

    [Test]
    public async Task Nothing_is_reconciled_before_the_source_has_been_read_once()
    {
        _source.Publish(Web(2));
        await Settle();
        Assert.That(Reconciles, Is.Zero);

        _source.MarkReady();
        await Eventually(() => Reconciles == 1);
        Assert.That(Ipvs, Does.Contain("10.244.1.2"));
    }

    [Test]
    public async Task Without_any_change_a_resync_pass_restores_a_config_file_deleted_behind_its_back()
    {
        // A loop of its own, with the resync on, in a folder of its own.
        _source.MarkReady();
        var folder = Directory.CreateDirectory(Path.Combine(_folder, "resync")).FullName;
        var ipvs = Path.Combine(folder, "ipvs.conf");
        var time = new CountingTime();
        var source = new StubSource();
        var reconciler = new Reconciler(TemplateSet.Embedded(), new FlakyValidator(), new SkippedValidation("exabgp"), new ScriptedReloader(), new ConfigFiles(folder));
        var loop = new ReconcileLoop(source, new FixedTuning(), reconciler, Node, null, Options with { Resync = TimeSpan.FromSeconds(30) }, new ReconcileStatus(), NullLogger<ReconcileLoop>.Instance, time);
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => loop.RunAsync(stop.Token));
        source.Publish(Web(2));
        source.MarkReady();
        await Eventually(() => File.Exists(ipvs) && time.TimersCreated >= 1);
        var written = File.ReadAllText(ipvs);

        File.Delete(ipvs);
        time.Advance(TimeSpan.FromSeconds(29));
        await Settle();
        Assert.That(File.Exists(ipvs), Is.False, "not before the resync interval");
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually(() => time.TimersCreated >= 2);
        time.Advance(TimeSpan.FromMilliseconds(30));
        await Eventually(() => File.Exists(ipvs));
        Assert.That(File.ReadAllText(ipvs), Is.EqualTo(written));

        await stop.CancelAsync();
        try
        {
            await running.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
            // Stopped mid-pass: the loop's own way of ending.
        }
    }

    [Test]
    public async Task A_change_waits_out_the_debounce_and_a_burst_within_it_becomes_one_reconcile_of_the_last_state()
    {
        _source.MarkReady();
        await Eventually(() => Reconciles == 1);

        for (var n = 1; n <= 100; n++) _source.Publish(Web(n % 50 + 1));
        _source.Publish(Web(7));
        await TimerCreated(1);
        await Advance(29);
        Assert.That(Reconciles, Is.EqualTo(1), "not before the debounce has passed");

        await Advance(1);
        await Eventually(() => Reconciles == 2);
        await Advance(10_000);
        Assert.That(Reconciles, Is.EqualTo(2), "101 changes, one reconcile");
        Assert.That(Ipvs, Does.Contain("10.244.1.7").And.Not.Contain("10.244.1.8"));
    }

    [Test]
    public async Task An_unconfirmed_reload_is_retried_without_new_input_with_growing_backoff_which_resets_after_a_success()
    {
        _reloader.Unconfirmed = 2;
        _source.Publish(Web(2));
        _source.MarkReady();
        await Eventually(() => _reloader.Calls == 1);
        Assert.That(_status.PendingReloads, Is.EqualTo(new[] { Daemon.Keepalived }));

        // First retry: uniform in [250, 500] ms (full jitter on 500 ms), then the 30 ms debounce.
        await TimerCreated(1);
        await Advance(249);
        Assert.That(_reloader.Calls, Is.EqualTo(1), "not before half the first backoff");
        await Advance(251);
        await TimerCreated(2);
        await Advance(30);
        await Eventually(() => _reloader.Calls == 2);

        // Second retry: in [500, 1000] ms.
        await TimerCreated(3);
        await Advance(499);
        Assert.That(_reloader.Calls, Is.EqualTo(2), "the backoff grew");
        await Advance(501);
        await TimerCreated(4);
        await Advance(30);
        await Eventually(() => _reloader.Calls == 3 && _status.PendingReloads.Count == 0);

        // After a success the backoff starts over: a new miss is retried within the first step again.
        _reloader.Unconfirmed = 1;
        _source.Publish(Web(3));
        await TimerCreated(5);
        await Advance(30);
        await Eventually(() => _reloader.Calls == 4);
        await TimerCreated(6);
        await Advance(500);
        await TimerCreated(7);
        await Advance(30);
        await Eventually(() => _reloader.Calls == 5 && _status.PendingReloads.Count == 0);
    }

    [Test]
    public async Task An_apply_that_throws_shows_as_stale_and_is_retried_without_new_input()
    {
        _keepalived.Throws = 1;
        _source.Publish(Web(2));
        _source.MarkReady();
        await Eventually(() => _status.Failures == 1);
        Assert.That(_status.ConfigStale, Is.True);

        await TimerCreated(1);
        await Advance(500);
        await TimerCreated(2);
        await Advance(30);
        await Eventually(() => _status.Counts.GetValueOrDefault(ReconcileResult.Applied) == 1);
        Assert.That(_status.ConfigStale, Is.False);
    }

    [Test]
    public async Task Stopping_ends_the_loop_promptly_and_nothing_runs_after_it()
    {
        _source.Publish(Web(2));
        _source.MarkReady();
        await Eventually(() => Reconciles == 1);

        _source.Publish(Web(3));
        await _stop.CancelAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(2));
        _time.Advance(TimeSpan.FromSeconds(1));
        await Settle();
        Assert.That(Reconciles, Is.EqualTo(1));
        Assert.That(Ipvs, Does.Not.Contain("10.244.1.3"));
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("the loop did not get there within 5 s of real time");
            await Task.Delay(5);
        }
    }
}
