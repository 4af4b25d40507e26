using System.Diagnostics;
using PortableLb.Apply;

namespace PortableLb.Tests.Apply;

public sealed class SignalTests
{
    [Test]
    public void Each_daemon_reloads_on_its_own_signal()
    {
        Assert.That(DaemonSignals.Reload(Daemon.Keepalived), Is.EqualTo(Signal.Hangup));
        Assert.That(DaemonSignals.Reload(Daemon.Exabgp), Is.EqualTo(Signal.User1));
    }

    [Test]
    public async Task Sending_SIGHUP_to_exabgp_is_refused_before_it_reaches_the_kernel()
    {
        // A live stand-in: if the rule failed, SIGHUP would end it and the test would see that too.
        using var standIn = Process.Start(new ProcessStartInfo("sleep", ["30"]))!;
        try
        {
            Assert.That(() => new LibcSignalSender().Send(new DaemonProcess(Daemon.Exabgp, standIn.Id), Signal.Hangup),
                Throws.TypeOf<ForbiddenSignalException>().With.Message.Contains("withdraws every route"));
            await Task.Delay(100);
            Assert.That(standIn.HasExited, Is.False);
        }
        finally
        {
            standIn.Kill();
        }
    }

    [Test]
    public async Task A_signal_reaches_a_real_process_through_libc_kill()
    {
        // A shell that reports USR1 and exits; it stands in for a daemon (the pid-file name check is not involved here).
        using var shell = Process.Start(new ProcessStartInfo("sh", ["-c", "trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.05; done"])
        {
            RedirectStandardOutput = true,
        })!;
        Assert.That(await shell.StandardOutput.ReadLineAsync(), Is.EqualTo("ready"));

        Assert.That(new LibcSignalSender().Send(new DaemonProcess(Daemon.Exabgp, shell.Id), Signal.User1), Is.True);
        Assert.That(await shell.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo("got-usr1"));
        await shell.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task A_process_that_is_gone_is_reported_not_thrown()
    {
        using var done = Process.Start(new ProcessStartInfo("true"))!;
        await done.WaitForExitAsync();
        var pid = done.Id;
        done.Dispose();
        Assert.That(new LibcSignalSender().Send(new DaemonProcess(Daemon.Keepalived, pid), Signal.Hangup), Is.False);
    }

    [Test]
    public void A_pid_file_is_trusted_only_when_the_process_has_the_daemons_name()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-pid-").FullName;
        try
        {
            var (pidFile, proc) = FakeProcess(folder, "exabgp", "/usr/bin/python3\0/usr/sbin/exabgp\0/run/portable-lb/exabgp.conf\0");

            Assert.That(PidFile.Find(pidFile, Daemon.Exabgp, proc), Is.EqualTo(new DaemonProcess(Daemon.Exabgp, 4242)));
            Assert.That(PidFile.Find(pidFile, Daemon.Keepalived, proc), Is.Null, "a reused pid now running something else");
            Assert.That(PidFile.Find(Path.Combine(folder, "missing.pid"), Daemon.Exabgp, proc), Is.Null);
            File.WriteAllText(pidFile, "garbage");
            Assert.That(PidFile.Find(pidFile, Daemon.Exabgp, proc), Is.Null);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A fake /proc with one process, and a pid file naming it.</summary>
    private static (string PidFile, string Proc) FakeProcess(string folder, string comm, string cmdline)
    {
        var proc = Path.Combine(folder, "proc");
        AddProcess(proc, 4242, comm, cmdline);
        var pidFile = Path.Combine(folder, "daemon.pid");
        File.WriteAllText(pidFile, "4242\n");
        return (pidFile, proc);
    }

    /// <summary>A running process in a fake /proc: what <see cref="PidFile"/> reads of it.</summary>
    private static void AddProcess(string proc, int pid, string comm, string cmdline)
    {
        var folder = Directory.CreateDirectory(Path.Combine(proc, pid.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
        File.WriteAllText(Path.Combine(folder, "comm"), comm + "\n");
        File.WriteAllText(Path.Combine(folder, "cmdline"), cmdline);
        File.WriteAllText(Path.Combine(folder, "stat"), $"{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560\n");
    }

    [Test]
    public void A_daemon_killed_outright_is_gone_while_it_is_still_a_zombie()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-pid-").FullName;
        try
        {
            var (pidFile, proc) = FakeProcess(folder, "keepalived", "/usr/sbin/keepalived\0-n\0");
            Assert.That(PidFile.Find(pidFile, Daemon.Keepalived, proc), Is.Not.Null, "running");
            // Its comm and an empty cmdline stay until the parent reaps it; only the state says it is dead.
            File.WriteAllText(Path.Combine(proc, "4242", "stat"), "4242 (keepalived) Z 1 4242 4242 0 -1 4227084\n");
            Assert.That(PidFile.Find(pidFile, Daemon.Keepalived, proc), Is.Null, "a zombie");
            File.Delete(Path.Combine(proc, "4242", "stat"));
            Assert.That(PidFile.Find(pidFile, Daemon.Keepalived, proc), Is.Null, "reaped between reading comm and stat");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // The names are matched exactly: these were signalled, and died, when a prefix was enough.
    [TestCase("keepalived-impostor", "/usr/local/bin/keepalived-impostor\0", Daemon.Keepalived)]
    [TestCase("exabgpcli", "/usr/bin/python3\0/usr/sbin/exabgpcli\0", Daemon.Exabgp)]
    [TestCase("exabgp", "/usr/bin/python3\0/tmp/not-exabgp.py\0", Daemon.Exabgp)]
    public void A_process_whose_name_only_starts_like_the_daemons_is_not_it(string comm, string cmdline, Daemon daemon)
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-pid-").FullName;
        try
        {
            var (pidFile, proc) = FakeProcess(folder, comm, cmdline);
            Assert.That(PidFile.Find(pidFile, daemon, proc), Is.Null);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    [CancelAfter(10_000)]
    public void A_pid_file_that_is_a_fifo_a_symlink_a_folder_or_too_long_is_refused_without_blocking()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-pid-").FullName;
        try
        {
            var (pidFile, proc) = FakeProcess(folder, "keepalived", "/usr/sbin/keepalived\0");
            Assert.That(PidFile.Find(pidFile, Daemon.Keepalived, proc), Is.EqualTo(new DaemonProcess(Daemon.Keepalived, 4242)), "the regular file is read");

            var link = Path.Combine(folder, "link.pid");
            File.CreateSymbolicLink(link, pidFile);
            Assert.That(PidFile.Find(link, Daemon.Keepalived, proc), Is.Null, "a symlink is not followed");

            // A FIFO with no writer: a plain open would block for ever, and with it the reconcile loop and /readyz.
            var fifo = Path.Combine(folder, "fifo.pid");
            Assert.That(Process.Start("mkfifo", [fifo]).WaitForExit(5_000), Is.True);
            var started = Stopwatch.StartNew();
            Assert.That(PidFile.Find(fifo, Daemon.Keepalived, proc), Is.Null);
            Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)));

            Assert.That(PidFile.Find(folder, Daemon.Keepalived, proc), Is.Null, "a folder");
            File.WriteAllText(pidFile, "4242" + new string(' ', 100));
            Assert.That(PidFile.Find(pidFile, Daemon.Keepalived, proc), Is.Null, "more than a pid");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed class RecordingSender : ISignalSender
    {
        public List<(DaemonProcess, Signal)> Sent { get; } = [];

        public bool Send(DaemonProcess target, Signal signal)
        {
            DaemonSignals.Check(target, signal);
            Sent.Add((target, signal));
            return true;
        }
    }

    [Test]
    public async Task The_pid_file_reloader_gives_each_daemon_its_own_signal_and_skips_one_not_running()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-reload-").FullName;
        try
        {
            var proc = Path.Combine(folder, "proc");
            foreach (var (pid, name) in new[] { (101, "keepalived"), (202, "exabgp") })
            {
                AddProcess(proc, pid, name, $"/usr/sbin/{name}\0");
                File.WriteAllText(Path.Combine(folder, $"{name}.pid"), pid.ToString());
            }
            var sender = new RecordingSender();
            var files = new Dictionary<Daemon, string> { [Daemon.Keepalived] = Path.Combine(folder, "keepalived.pid"), [Daemon.Exabgp] = Path.Combine(folder, "exabgp.pid") };
            var reloader = new PidFileReloader(files, sender, proc);

            Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
            Assert.That(await reloader.ReloadAsync(Daemon.Exabgp, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
            Assert.That(sender.Sent, Is.EqualTo(new[] { (new DaemonProcess(Daemon.Keepalived, 101), Signal.Hangup), (new DaemonProcess(Daemon.Exabgp, 202), Signal.User1) }));

            File.Delete(Path.Combine(folder, "exabgp.pid"));
            Assert.That(await reloader.ReloadAsync(Daemon.Exabgp, CancellationToken.None), Is.EqualTo(ReloadResult.NotRunning));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
