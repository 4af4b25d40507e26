using PortableLb.Apply;

namespace PortableLb.Tests.Apply;

public sealed class ReloadConfirmationTests
{
    /// <summary>An exabgp that ignores the first N signals, as the real one does while busy, then logs the reload.</summary>
    private sealed class DroppingExabgp(string log, int ignoreFirst) : IDaemonReloader
    {
        public int Signals { get; private set; }

        public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
        {
            Signals++;
            if (Signals > ignoreFirst) File.AppendAllText(log, $"reactor       {ExabgpLogWitness.LoadedMessage}\n");
            return Task.FromResult(ReloadResult.Signalled);
        }
    }

    private string _log = "";

    [SetUp]
    public void Setup()
    {
        _log = Path.GetTempFileName();
        // A start-up line from before our signal must not count as confirmation.
        File.WriteAllText(_log, $"reactor       {ExabgpLogWitness.LoadedMessage}\n");
    }

    private Dictionary<Daemon, IReloadWitness> Witness() => new() { [Daemon.Exabgp] = new ExabgpLogWitness(_log) };

    [TearDown]
    public void Cleanup() => File.Delete(_log);

    [Test]
    public async Task A_dropped_SIGUSR1_is_noticed_and_sent_again_until_exabgp_logs_the_reload()
    {
        var exabgp = new DroppingExabgp(_log, ignoreFirst: 2);
        var reloader = new ConfirmingReloader(exabgp, Witness(), TimeProvider.System, TimeSpan.FromMilliseconds(100));
        Assert.That(await reloader.ReloadAsync(Daemon.Exabgp, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
        Assert.That(exabgp.Signals, Is.EqualTo(3));
    }

    [Test]
    public async Task An_exabgp_that_never_confirms_is_reported_unconfirmed_after_a_bounded_number_of_tries()
    {
        var exabgp = new DroppingExabgp(_log, ignoreFirst: int.MaxValue);
        var reloader = new ConfirmingReloader(exabgp, Witness(), TimeProvider.System, TimeSpan.FromMilliseconds(50), attempts: 3);
        Assert.That(await reloader.ReloadAsync(Daemon.Exabgp, CancellationToken.None), Is.EqualTo(ReloadResult.Unconfirmed));
        Assert.That(exabgp.Signals, Is.EqualTo(3));
    }

    [Test]
    public async Task A_daemon_without_a_witness_is_signalled_once_and_not_waited_for()
    {
        var inner = new DroppingExabgp(_log, ignoreFirst: int.MaxValue);
        var reloader = new ConfirmingReloader(inner, Witness(), TimeProvider.System, TimeSpan.FromMilliseconds(50));
        Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
        Assert.That(inner.Signals, Is.EqualTo(1));
    }

    /// <summary>A keepalived that ignores the first N signals, then truncates the reload file and deletes it after readTime.</summary>
    private sealed class ReadingKeepalived(string reloadFile, int ignoreFirst, TimeSpan readTime) : IDaemonReloader
    {
        public int Signals { get; private set; }

        public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
        {
            Signals++;
            if (Signals > ignoreFirst)
            {
                File.WriteAllText(reloadFile, "");
                _ = Task.Delay(readTime, CancellationToken.None).ContinueWith(_ => File.Delete(reloadFile), TaskScheduler.Default);
            }
            return Task.FromResult(ReloadResult.Signalled);
        }
    }

    private Dictionary<Daemon, IReloadWitness> KeepalivedWitness(string reloadFile) => new() { [Daemon.Keepalived] = new KeepalivedReloadFileWitness(reloadFile) };

    [Test]
    public async Task A_keepalived_still_reading_a_large_config_is_waited_for_not_signalled_again()
    {
        var reloadFile = _log + ".reload";
        var keepalived = new ReadingKeepalived(reloadFile, ignoreFirst: 0, readTime: TimeSpan.FromMilliseconds(400));
        var reloader = new ConfirmingReloader(keepalived, KeepalivedWitness(reloadFile), TimeProvider.System, wait: TimeSpan.FromMilliseconds(100));
        Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
        Assert.That(keepalived.Signals, Is.EqualTo(1));
        Assert.That(File.Exists(reloadFile), Is.False);
    }

    [Test]
    public async Task A_keepalived_that_missed_the_signal_leaves_the_file_untouched_and_is_signalled_again()
    {
        var reloadFile = _log + ".reload";
        var keepalived = new ReadingKeepalived(reloadFile, ignoreFirst: 1, readTime: TimeSpan.Zero);
        var reloader = new ConfirmingReloader(keepalived, KeepalivedWitness(reloadFile), TimeProvider.System, wait: TimeSpan.FromMilliseconds(100));
        Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
        Assert.That(keepalived.Signals, Is.EqualTo(2));
    }

    [Test]
    public async Task A_keepalived_stuck_reading_past_the_read_limit_is_reported_unconfirmed()
    {
        var reloadFile = _log + ".reload";
        var keepalived = new ReadingKeepalived(reloadFile, ignoreFirst: 0, readTime: TimeSpan.FromSeconds(30));
        var reloader = new ConfirmingReloader(keepalived, KeepalivedWitness(reloadFile), TimeProvider.System,
            wait: TimeSpan.FromMilliseconds(50), attempts: 2, readLimit: TimeSpan.FromMilliseconds(150));
        Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(ReloadResult.Unconfirmed));
        File.Delete(reloadFile);
    }
}
