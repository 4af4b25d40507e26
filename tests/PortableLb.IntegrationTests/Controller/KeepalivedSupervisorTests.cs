using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Apply;
using PortableLb.Model;
using PortableLb.Rendering;

namespace PortableLb.IntegrationTests.Controller;

[CancelAfter(60_000)]
public sealed class KeepalivedSupervisorTests
{
    private string _folder = "";

    [SetUp]
    public void Setup() => _folder = Directory.CreateTempSubdirectory("portable-lb-supervise-").FullName;

    [TearDown]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    private KeepalivedSupervisorOptions Options(string program) => new(Path.Combine(_folder, "ipvs.conf"), Path.Combine(_folder, "keepalived.pid"), program)
    {
        InitialRestartDelay = TimeSpan.FromMilliseconds(200),
        MaxRestartDelay = TimeSpan.FromSeconds(2),
        StopTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>A keepalived stand-in: writes its -p pid file, logs HUPs, exits 0 on TERM and 3 when told to crash.</summary>
    private string StandIn()
    {
        var script = Path.Combine(_folder, "keepalived");
        File.WriteAllText(script, $$"""
            #!/bin/sh
            while [ $# -gt 0 ]; do [ "$1" = "-p" ] && pidfile="$2"; shift; done
            # Traps before the pid file: a SIGHUP that found the pid before its trap would kill the shell. (Run
            # under nohup, sh cannot trap an ignored SIGHUP at all, and this test fails: start test runs otherwise.)
            trap 'echo HUP >> {{_folder}}/events' HUP
            trap 'echo TERM >> {{_folder}}/events; exit 0' TERM
            echo $$ > "$pidfile"
            echo start >> {{_folder}}/events
            while :; do if [ -f {{_folder}}/crash ]; then rm -f {{_folder}}/crash; exit 3; fi; sleep 0.02; done
            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return script;
    }

    private string[] Events() => File.Exists(Path.Combine(_folder, "events")) ? File.ReadAllLines(Path.Combine(_folder, "events")) : [];

    [Test]
    public async Task It_starts_once_the_config_exists_restarts_after_a_crash_reloads_on_SIGHUP_and_stops_with_SIGTERM()
    {
        var options = Options(StandIn());
        var supervisor = new KeepalivedSupervisor(options, new LibcSignalSender(), NullLogger<KeepalivedSupervisor>.Instance);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);
        try
        {
            await Exercise(supervisor, options);
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.That(Events().Last(), Is.EqualTo("TERM"));
        Assert.That(supervisor.Pid, Is.Null);
    }

    private async Task Exercise(KeepalivedSupervisor supervisor, KeepalivedSupervisorOptions options)
    {
        await Task.Delay(300);
        Assert.That(supervisor.Starts, Is.Zero, "no keepalived before the first validated ipvs.conf");
        await File.WriteAllTextAsync(options.ConfigPath, "# rendered\n");
        await Eventually.True(() => Events().Contains("start") && File.Exists(options.PidFile), "the first start");

        var reloader = new PidFileReloader(new Dictionary<Daemon, string> { [Daemon.Keepalived] = options.PidFile }, new LibcSignalSender());
        Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(ReloadResult.Signalled));
        await Eventually.True(() => Events().Contains("HUP"), "the SIGHUP to arrive");

        await File.WriteAllTextAsync(Path.Combine(_folder, "crash"), "");
        await Eventually.True(() => supervisor.Starts == 2 && Events().Count(e => e == "start") == 2, "the restart after the crash");
    }

    [Test]
    public async Task A_keepalived_that_ignores_SIGTERM_is_killed_with_its_children_after_the_stop_timeout()
    {
        var script = Path.Combine(_folder, "stubborn");
        File.WriteAllText(script, $$"""
            #!/bin/sh
            trap 'echo TERM >> {{_folder}}/events' TERM
            sleep 600 &
            echo $! > {{_folder}}/child
            while :; do sleep 0.05; done
            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var options = Options(script) with { StopTimeout = TimeSpan.FromSeconds(1) };
        await File.WriteAllTextAsync(options.ConfigPath, "# rendered\n");
        var supervisor = new KeepalivedSupervisor(options, new LibcSignalSender(), NullLogger<KeepalivedSupervisor>.Instance);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);
        await Eventually.True(() => File.Exists(Path.Combine(_folder, "child")) && supervisor.Pid is not null, "the stand-in and its child");
        var pid = supervisor.Pid!.Value;
        var child = int.Parse(File.ReadAllText(Path.Combine(_folder, "child")).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(Events(), Does.Contain("TERM"), "SIGTERM first");
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9)), "the stop timeout was waited out");
        await Eventually.True(() => ProcessState.Gone(pid) && ProcessState.Gone(child), "the stand-in and its child gone");
        Assert.That(supervisor.Pid, Is.Null);
    }

    [Test]
    public async Task The_real_keepalived_exits_on_a_kernel_without_IPVS_and_is_restarted_with_growing_delays()
    {
        Daemons.Require("keepalived");
        if (Directory.Exists("/proc/net/ip_vs") || File.Exists("/proc/net/ip_vs")) Assert.Ignore("this kernel has IPVS; keepalived would not crash here (the VM harness covers that case)");
        // A virtual server makes keepalived initialise IPVS, which this kernel lacks: it exits at once.
        await File.WriteAllTextAsync(Path.Combine(_folder, "ipvs.conf"),
            "virtual_server 192.0.2.10 80 {\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.244.1.1 80 {\n  weight 1\n }\n}\n");
        var supervisor = new KeepalivedSupervisor(Options("keepalived"), new LibcSignalSender(), NullLogger<KeepalivedSupervisor>.Instance);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);

        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await Eventually.True(() => supervisor.Starts >= 3, "three starts", TimeSpan.FromSeconds(20));
            // 200 ms, then about 400 ms (jittered to at least half): restarts are spaced, not a hot loop.
            Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(250)));
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [TestCase(true, ReloadResult.Signalled)]
    [TestCase(false, ReloadResult.Unconfirmed)]
    public async Task The_real_keepalived_confirms_a_SIGHUP_reload_through_its_reload_file(bool renderReloadFile, ReloadResult expected)
    {
        Daemons.Require("keepalived");
        var reloadFile = Path.Combine(_folder, "keepalived.reload");
        // No virtual server: on a kernel without IPVS that is the only config keepalived keeps running with.
        var config = new ConfigRenderer(TemplateSet.Embedded(), renderReloadFile ? reloadFile : null).Render(DesiredState.Empty).IpvsConf;
        var options = Options("keepalived");
        await File.WriteAllTextAsync(options.ConfigPath, config);
        var supervisor = new KeepalivedSupervisor(options, new LibcSignalSender(), NullLogger<KeepalivedSupervisor>.Instance);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);
        try
        {
            await Eventually.True(() => PidFile.Find(options.PidFile, Daemon.Keepalived) is not null, "keepalived to write its pid file");
            var signaller = new PidFileReloader(new Dictionary<Daemon, string> { [Daemon.Keepalived] = options.PidFile }, new LibcSignalSender());
            var reloader = new ConfirmingReloader(signaller, new Dictionary<Daemon, IReloadWitness> { [Daemon.Keepalived] = new KeepalivedReloadFileWitness(reloadFile) },
                TimeProvider.System, wait: TimeSpan.FromSeconds(1), attempts: 2);
            for (var i = 0; i < 3; i++)
            {
                Assert.That(await reloader.ReloadAsync(Daemon.Keepalived, CancellationToken.None), Is.EqualTo(expected), $"reload {i + 1}");
            }
            Assert.That(File.Exists(reloadFile), Is.EqualTo(!renderReloadFile));
            Assert.That(supervisor.Starts, Is.EqualTo(1), "reloads must not kill keepalived");
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
