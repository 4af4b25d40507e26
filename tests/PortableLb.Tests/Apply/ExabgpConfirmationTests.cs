using PortableLb.Apply;

namespace PortableLb.Tests.Apply;

public sealed class ExabgpConfirmationTests
{
    /// <summary>An exabgp that ignores the first N signals, as the real one does while busy, then logs the reload.</summary>
    private sealed class DroppingExabgp(string log, int ignoreFirst) : IDaemonReloader
    {
        public int Signals { get; private set; }

        public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
        {
            Signals++;
            if (Signals > ignoreFirst) File.AppendAllText(log, $"reactor       {ConfirmingExabgpReloader.LoadedMessage}\n");
            return Task.FromResult(ReloadResult.Signalled);
        }
    }

    private string _log = "";

    [SetUp]
    public void Setup()
    {
        _log = Path.GetTempFileName();
        // A start-up line from before our signal must not count as confirmation.
        File.WriteAllText(_log, $"reactor       {ConfirmingExabgpReloader.LoadedMessage}\n");
    }

    [TearDown]
    public void Cleanup() => File.Delete(_log);

    [Test]
    public async Task A_dropped_SIGUSR1_is_noticed_and_sent_again_until_exabgp_logs_the_reload()
    {
        var exabgp = new DroppingExabgp(_log, ignoreFirst: 2);
        var reloader = new ConfirmingExabgpReloader(exabgp, _log, TimeProvider.System, TimeSpan.FromMilliseconds(100));
        Assert.That(await reloader.ReloadAsync(Daemon.Exabgp, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
        Assert.That(exabgp.Signals, Is.EqualTo(3));
    }

    [Test]
    public async Task An_exabgp_that_never_confirms_is_reported_unconfirmed_after_a_bounded_number_of_tries()
    {
        var exabgp = new DroppingExabgp(_log, ignoreFirst: int.MaxValue);
        var reloader = new ConfirmingExabgpReloader(exabgp, _log, TimeProvider.System, TimeSpan.FromMilliseconds(50), attempts: 3);
        Assert.That(await reloader.ReloadAsync(Daemon.Exabgp, CancellationToken.None), Is.EqualTo(ReloadResult.Unconfirmed));
        Assert.That(exabgp.Signals, Is.EqualTo(3));
    }

    [Test]
    public async Task Keepalived_reloads_pass_straight_through()
    {
        var inner = new DroppingExabgp(_log, ignoreFirst: int.MaxValue);
        var reloader = new ConfirmingExabgpReloader(inner, _log, TimeProvider.System, TimeSpan.FromMilliseconds(50));
        Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
        Assert.That(inner.Signals, Is.EqualTo(1));
    }
}
