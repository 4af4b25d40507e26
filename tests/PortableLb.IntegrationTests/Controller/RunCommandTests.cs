using System.Diagnostics;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>
/// `portable-lb run` as a real child process with the manifest-folder source. keepalived and exabgp are stand-ins:
/// shell scripts with the daemons' names (so pid-file checks pass) that log every signal they receive.
/// </summary>
[CancelAfter(90_000)]
public sealed class RunCommandTests
{
    private string _root = "";
    private string _objects = "";
    private string _run = "";
    private readonly List<Process> _processes = [];

    private static string Service(string ip) => $$"""
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: default}
        spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: {{ip}}, ports: [{port: 80}]}
        """;

    private static string Slice(int endpoints)
    {
        var list = string.Join(", ", Enumerable.Range(1, endpoints).Select(i => $"{{addresses: [10.244.{i / 250}.{i % 250 + 1}]}}"));
        return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            + "metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n"
            + $"addressType: IPv4\nports: [{{port: 8080}}]\nendpoints: [{list}]\n";
    }

    [SetUp]
    public void Setup()
    {
        _root = Directory.CreateTempSubdirectory("portable-lb-run-").FullName;
        _objects = Directory.CreateDirectory(Path.Combine(_root, "objects")).FullName;
        _run = Directory.CreateDirectory(Path.Combine(_root, "run")).FullName;
        File.WriteAllText(Path.Combine(_objects, "service.yaml"), Service("198.51.100.77"));
        File.WriteAllText(Path.Combine(_objects, "slice.yaml"), Slice(2));
        File.WriteAllText(Path.Combine(_root, "tuning.yaml"), "bgp: {peers: [127.0.0.2], holdTime: 9}\n");
    }

    [TearDown]
    public void Cleanup()
    {
        foreach (var process in _processes.Where(p => !p.HasExited)) process.Kill(entireProcessTree: true);
        foreach (var process in _processes) process.Dispose();
        // NUnit reuses the fixture instance: the next test starts with no processes.
        _processes.Clear();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>
    /// A process named like the daemon that records each signal it gets in signals.log. Like keepalived, it deletes
    /// the reload_file on SIGHUP, which is how the controller confirms the reload.
    /// </summary>
    private string StandIn(string daemon)
    {
        var script = Path.Combine(_root, daemon);
        File.WriteAllText(script, $"""
            #!/bin/sh
            echo $$ > {_run}/{daemon}.pid
            trap 'echo HUP >> {_run}/{daemon}.signals; rm -f {_run}/keepalived.reload' HUP
            trap 'echo USR1 >> {_run}/{daemon}.signals' USR1
            trap 'exit 0' TERM
            while :; do sleep 0.02; done
            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _processes.Add(Process.Start(new ProcessStartInfo(script) { UseShellExecute = false })!);
        return script;
    }

    private string[] Signals(string daemon)
    {
        var path = Path.Combine(_run, $"{daemon}.signals");
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    private Process StartController(Action<ProcessStartInfo>? configure = null, int port = 0, string host = "127.0.0.1")
    {
        Daemons.Require("keepalived", "exabgp");
        var process = ControllerProcess.Start(
        [
            "--objects", _objects, "--tuning", Path.Combine(_root, "tuning.yaml"),
            "--node-ip", "127.0.0.1", "--pod-ip", "127.0.0.1", "--config-dir", _run, "--listen", $"{host}:{port}",
            "--keepalived-pidfile", Path.Combine(_run, "keepalived.pid"), "--exabgp-pidfile", Path.Combine(_run, "exabgp.pid"),
            "--withdraw-grace", "2", "--debounce", "30", "--data-plane", "off",
        ], configure: configure);
        _processes.Add(process);
        return process;
    }

    private string Ipvs => File.Exists(Path.Combine(_run, "ipvs.conf")) ? File.ReadAllText(Path.Combine(_run, "ipvs.conf")) : "";
    private string Exabgp => File.Exists(Path.Combine(_run, "exabgp.conf")) ? File.ReadAllText(Path.Combine(_run, "exabgp.conf")) : "";

    [Test]
    public async Task Files_and_reload_signals_follow_the_manifests_and_exabgp_never_gets_SIGHUP()
    {
        StandIn("keepalived");
        StandIn("exabgp");
        await Eventually.True(() => File.Exists(Path.Combine(_run, "keepalived.pid")) && File.Exists(Path.Combine(_run, "exabgp.pid")), "the stand-ins to start");
        StartController();

        await Eventually.True(() => Ipvs.Contains("real_server 10.244.0.3 8080"), "the first render");
        await Eventually.True(() => Signals("keepalived").Length >= 1 && Signals("exabgp").Length >= 1, "the first reloads");
        Assert.That(Exabgp, Does.Contain("route 198.51.100.77/32 next-hop 127.0.0.1;"));

        // Scale up: only keepalived's file changes, so only keepalived is reloaded.
        var exabgpReloads = Signals("exabgp").Length;
        await File.WriteAllTextAsync(Path.Combine(_objects, "slice.yaml"), Slice(3));
        await Eventually.True(() => Ipvs.Contains("real_server 10.244.0.4 8080") && Signals("keepalived").Length >= 2, "the scale-up");
        Assert.That(Signals("exabgp"), Has.Length.EqualTo(exabgpReloads));

        // Every endpoint gone: the virtual server and the route go; exabgp reloads to withdraw.
        await File.WriteAllTextAsync(Path.Combine(_objects, "slice.yaml"), Slice(0));
        await Eventually.True(() => !Exabgp.Contains("route 198.51.100.77/32") && Signals("exabgp").Length > exabgpReloads, "the withdrawal");

        Assert.That(Signals("keepalived"), Is.All.EqualTo("HUP"));
        Assert.That(Signals("exabgp"), Is.All.EqualTo("USR1"));
    }

    [Test]
    public async Task A_burst_of_500_changes_ends_with_the_last_state_and_far_fewer_reloads()
    {
        StandIn("keepalived");
        await Eventually.True(() => File.Exists(Path.Combine(_run, "keepalived.pid")), "the stand-in to start");
        StartController();
        await Eventually.True(() => Signals("keepalived").Length >= 1, "the first reload");

        var service = Path.Combine(_objects, "service.yaml");
        for (var i = 1; i <= 500; i++) await File.WriteAllTextAsync(service, Service($"198.51.{i / 250 + 1}.{i % 250 + 1}"));
        await Eventually.True(() => Ipvs.Contains("virtual_server 198.51.3.1 80"), "the last of 500 states (198.51.3.1)");
        await Task.Delay(500); // a late reconcile would show up here as another reload

        var reloads = Signals("keepalived").Length;
        Assert.That(reloads, Is.LessThan(100), $"{reloads} reloads for 500 changes");
        Assert.That(Ipvs, Does.Contain("virtual_server 198.51.3.1 80"));
    }

    [Test]
    public async Task SIGTERM_withdraws_every_route_waits_the_grace_period_then_exits_0()
    {
        StandIn("keepalived");
        StandIn("exabgp");
        await Eventually.True(() => File.Exists(Path.Combine(_run, "keepalived.pid")) && File.Exists(Path.Combine(_run, "exabgp.pid")), "the stand-ins to start");
        var controller = StartController();
        await Eventually.True(() => Exabgp.Contains("route 198.51.100.77/32"), "the announcement");
        var reloadsBefore = Signals("exabgp").Length;

        var clock = Stopwatch.StartNew();
        Assert.That(Syscall.Kill(controller.Id, 15), Is.Zero);
        await Eventually.True(() => !Exabgp.Contains("route 198.51.100.77/32") && Signals("exabgp").Length > reloadsBefore, "the withdrawal");
        var withdrawnAt = clock.Elapsed;
        await controller.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(controller.ExitCode, Is.Zero);
        Assert.That(clock.Elapsed - withdrawnAt, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1.5)), "it waited the 2 s grace after withdrawing");
        Assert.That(Exabgp, Does.Contain("neighbor 127.0.0.2"), "the session stays configured; only the routes go");
        Assert.That(Signals("exabgp"), Is.All.EqualTo("USR1"));
    }

    [Test]
    public async Task It_watches_its_manifest_folder_and_nothing_under_its_working_directory()
    {
        // The image starts it in "/": a recursive watch there (the web host's appsettings.json reloadOnChange) took
        // minutes to set up under emulation and spent the inotify watches its manifest folder needed.
        var cwd = Directory.CreateDirectory(Path.Combine(_root, "cwd")).FullName;
        for (var i = 0; i < 40; i++) Directory.CreateDirectory(Path.Combine(cwd, $"d{i}", "sub"));
        await File.WriteAllTextAsync(Path.Combine(cwd, "appsettings.json"), "{}");
        var controller = StartController(start => start.WorkingDirectory = cwd);
        await Eventually.True(() => Ipvs.Contains("real_server 10.244.0.3 8080"), "the first render");

        Assert.That(InotifyWatches(controller.Id), Is.EqualTo(1), "one watch: the manifest folder");
        await File.WriteAllTextAsync(Path.Combine(_objects, "slice.yaml"), Slice(3));
        await Eventually.True(() => Ipvs.Contains("real_server 10.244.0.4 8080"), "the edit, seen through that watch");
    }

    [Test]
    public async Task Keepalived_dying_withdraws_its_routes_within_a_second()
    {
        var keepalived = StandIn("keepalived");
        StandIn("exabgp");
        await Eventually.True(() => File.Exists(Path.Combine(_run, "keepalived.pid")) && File.Exists(Path.Combine(_run, "exabgp.pid")), "the stand-ins to start");
        StartController();
        await Eventually.True(() => Exabgp.Contains("route 198.51.100.77/32"), "the announcement");
        // A pod that has settled: right after an apply, exabgp checks the all-withdrawn shape in the background
        // (exabgp --test, 0.3-1 s of Python start-up), and a withdrawal in that window waits for it.
        await Task.Delay(TimeSpan.FromSeconds(2));

        var stand = _processes.Single(p => p.StartInfo.FileName == keepalived);
        var clock = Stopwatch.StartNew();
        stand.Kill();
        await Eventually.True(() => !Exabgp.Contains("route 198.51.100.77/32"), "the withdrawal", TimeSpan.FromSeconds(1));
        await TestContext.Out.WriteLineAsync($"keepalived killed; exabgp.conf without the route after {clock.ElapsedMilliseconds} ms");
        Assert.That(Exabgp, Does.Contain("neighbor 127.0.0.2"), "the session stays; only the route goes");
    }

    [Test]
    public async Task On_a_kernel_without_IPVS_it_says_so_in_readyz_and_metrics_instead_of_reporting_ready()
    {
        if (File.Exists("/proc/net/ip_vs")) Assert.Inconclusive("this kernel has IPVS; the VM's pod tests cover that side");
        StandIn("keepalived");
        await Eventually.True(() => File.Exists(Path.Combine(_run, "keepalived.pid")), "the stand-in to start");
        using var free = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        free.Start();
        var port = ((System.Net.IPEndPoint)free.LocalEndpoint).Port;
        free.Stop();
        StartController(port: port);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await Eventually.True(async () => await Body(http, "/metrics") is { } m && m.Contains("portable_lb_reconciles_total{result=\"applied\"} 1", StringComparison.Ordinal), "the first apply");

        var ready = await http.GetAsync("/readyz");
        Assert.That((int)ready.StatusCode, Is.EqualTo(503));
        Assert.That(await ready.Content.ReadAsStringAsync(), Does.Contain("this kernel has no IPVS (no /proc/net/ip_vs): load the ip_vs module on the node"));
        Assert.That(await Body(http, "/metrics"), Does.Contain("\nportable_lb_ipvs_available 0\n"));
    }

    private static async Task<string?> Body(HttpClient http, string path)
    {
        try
        {
            return await http.GetStringAsync(path);
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static int InotifyWatches(int pid) => Directory.EnumerateFiles($"/proc/{pid}/fdinfo")
        .Sum(fd => { try { return File.ReadLines(fd).Count(line => line.StartsWith("inotify wd:", StringComparison.Ordinal)); } catch (IOException) { return 0; } });

    [Test]
    public async Task An_empty_listen_host_answers_probes_over_IPv4_and_IPv6()
    {
        // A free port on both families: probes on IPv6-only clusters come over IPv6.
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.IPv6Any, 0);
        probe.Server.DualMode = true;
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        StartController(port: port, host: "");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        foreach (var address in new[] { "127.0.0.1", "[::1]" })
        {
            await Eventually.True(async () =>
            {
                try
                {
                    return (await http.GetAsync($"http://{address}:{port}/healthz")).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, $"/healthz on {address}");
        }
    }

    [Test]
    public async Task Without_any_Kubernetes_configuration_it_says_so_and_exits_2()
    {
        var output = new List<string>();
        using var process = ControllerProcess.Start(["--config-dir", _run, "--listen", "127.0.0.1:0", "--data-plane", "off"], output, start =>
        {
            start.Environment.Remove("KUBERNETES_SERVICE_HOST");
            start.Environment.Remove("KUBECONFIG");
            start.Environment["HOME"] = _root;
        });
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(process.ExitCode, Is.EqualTo(2));
        lock (output) Assert.That(string.Join("\n", output), Does.Contain("error: no Kubernetes configuration"));
    }
}

internal static partial class Syscall
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
    public static partial int Kill(int pid, int signal);
}
