using System.Diagnostics;
using PortableLb.Testing.Manifests;

namespace PortableLb.IntegrationTests.Pod;

/// <summary>
/// The LB pod as a user deploys it: the images ./build.sh --target=Images built, run as manifests/base's Deployment
/// says (read-only roots, dropped capabilities, users and groups, the shared volume and process namespace, the
/// sysctls, the env, no args), on a kernel with IPVS, against an API server, with a real BGP peer. The checks run in
/// order on one pod, as its life goes: start, serve, change, lose keepalived, stop.
/// </summary>
[CancelAfter(1_500_000)]
[NonParallelizable]
public sealed class PodTests
{
    private PodLab _lab = null!;

    [OneTimeSetUp]
    public async Task StartThePod()
    {
        Daemons.RequireRoot();
        Daemons.Require("qemu-system-x86_64", "podman", "runc", "gobgpd", "gobgp", "nginx", "curl", "kubectl", "dpkg-deb", "apt-get");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        _lab = await PodLab.StartAsync(timeout.Token);
    }

    [OneTimeTearDown]
    public async Task StopTheLab()
    {
        if (_lab is not null) await _lab.DisposeAsync();
    }

    private async Task Eventually(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) Assert.Fail($"timed out after {timeout.TotalSeconds:0} s waiting for: {what}\n{await _lab.DiagnosticsAsync()}");
            await Task.Delay(250);
        }
    }

    private string Route => $"{PodLab.Vip}/32 {PodLab.NodeIp}";

    // podman's Go template, kept out of the C# interpolated scripts.
    private const string ExitFormat = "{{.Name}} {{.State.Status}} {{.State.ExitCode}}";

    /// <summary>Whether the kernel's IPVS table in the pod has the web pod as a real server (`kubectl exec … ipvsadm -Ln`).</summary>
    private async Task<bool> InIpvsAsync(string webPod) =>
        (await _lab.RunAsync($"podman exec {_lab.Ipvs} ipvsadm -Ln | grep -q '{webPod}:80'")).ExitCode == 0;

    [Test]
    [Order(1)]
    public async Task Before_the_route_reflector_answers_IPVS_is_programmed_and_endpoint_changes_apply()
    {
        await Eventually(() => InIpvsAsync(PodLab.WebPods[1]), "the Service's real servers in the kernel's IPVS table", TimeSpan.FromMinutes(5));
        // Whatever exabgp makes of reloads while its peer is unreachable (a reload it does not confirm is signalled again
        // with backoff, ReconcilerTests), keepalived's changes do not wait for it.
        _lab.SetEndpoints(ready: true, count: 3);
        await Eventually(() => InIpvsAsync(PodLab.WebPods[2]), "an endpoint change applied to IPVS with the peer unreachable", TimeSpan.FromMinutes(1));
        _lab.SetEndpoints(ready: true, count: 2);
        await Eventually(async () => !await InIpvsAsync(PodLab.WebPods[2]), "and another", TimeSpan.FromMinutes(1));
    }

    [Test]
    [Order(2)]
    public async Task Once_the_route_reflector_answers_the_route_is_announced_and_nothing_restarts_for_30_seconds()
    {
        await _lab.StartRouteReflectorAsync();
        await Eventually(async () => (await _lab.RoutesAsync()).Contains(Route), "the VIP announced to the route reflector with the node as next hop", TimeSpan.FromMinutes(3));
        await Eventually(async () => await _lab.MetricAsync("portable_lb_reload_pending{daemon=\"exabgp\"}") == 0, "nothing pending", TimeSpan.FromMinutes(2));
        await Task.Delay(TimeSpan.FromSeconds(30));
        var states = await _lab.MustAsync($"podman inspect --format '{{{{.Name}}}} {{{{.State.Status}}}} {{{{.RestartCount}}}}' {_lab.Ipvs} {_lab.Exabgp}");
        Assert.That(states.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { $"{_lab.Ipvs} running 0", $"{_lab.Exabgp} running 0" }), await _lab.DiagnosticsAsync());
    }

    [Test]
    [Order(3)]
    public async Task Keepalived_runs_with_every_pid_file_on_the_volume_and_the_pod_sysctls_are_set()
    {
        var volume = await _lab.MustAsync($"podman exec {_lab.Ipvs} sh -c 'ls /run/portable-lb; cat /proc/$(cat /run/portable-lb/keepalived.pid)/comm'");
        Assert.That(volume.Split('\n', StringSplitOptions.TrimEntries), Is.SupersetOf(new[] { "keepalived.pid", "keepalived-checkers.pid", "ipvs.conf", "exabgp.conf", "keepalived" }), volume);
        var sysctls = await _lab.MustAsync($"podman exec {_lab.Ipvs} cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/vs/expire_nodest_conn /proc/sys/net/ipv4/vs/expire_quiescent_template /proc/sys/net/ipv4/vs/conntrack");
        Assert.That(sysctls.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "1", "1", "1", "1" }));
        var logs = await _lab.MustAsync($"podman logs {_lab.Ipvs} 2>&1; podman logs {_lab.Exabgp} 2>&1");
        Assert.That(logs, Does.Not.Contain("Tini is not running as PID 1").And.Not.Contain("expects a single argument").And.Not.Contain("already running"));
    }

    [Test]
    [Order(4)]
    public async Task Exabgp_runs_as_its_own_user_reads_the_group_readable_config_and_holds_the_session()
    {
        var status = await _lab.MustAsync($"podman exec {_lab.Ipvs} sh -c 'grep -E \"^(Uid|Gid):\" /proc/$(cat /run/portable-lb/exabgp.pid)/status; stat -c \"%a %g\" /run/portable-lb/exabgp.conf'");
        Assert.That(status, Does.Match(@"Uid:\s+10179\s").And.Match(@"Gid:\s+10179\s"), status);
        Assert.That(status, Does.Contain("640 10179"), "exabgp.conf is owner and group only, the group being the pod's fsGroup");
        Assert.That(await _lab.MustAsync("gobgp_sessions \"\" 127.0.0.1"), Does.Contain($"{PodLab.PodIp} 6"), "established");
    }

    [Test]
    [Order(5)]
    public async Task The_probes_answer_healthy_and_ready_and_the_metrics_say_why()
    {
        Assert.That(await _lab.ProbeAsync("/healthz"), Is.EqualTo((200, "ok\n")));
        var ready = await _lab.ProbeAsync("/readyz");
        Assert.That(ready, Is.EqualTo((200, "ready\n")), "ready, and no warnings: the sysctls are set");
        Assert.That(await _lab.MetricAsync("portable_lb_ipvs_available"), Is.EqualTo(1));
        Assert.That(await _lab.MetricAsync("portable_lb_keepalived_running"), Is.EqualTo(1));
        Assert.That(await _lab.MetricAsync("portable_lb_data_plane_complete"), Is.EqualTo(1));
    }

    [Test]
    [Order(6)]
    public async Task The_node_routes_the_VIP_to_the_ready_LB_pod_and_replies_come_back_through_it()
    {
        // The node-routes DaemonSet's pod, run from the rendered DaemonSet in the node's network namespace.
        Assert.That((await _lab.MustAsync("ip route show proto 201")).Trim(), Is.Empty, "no route to an LB pod the kubelet does not call ready");
        Assert.That((await _lab.ProbeAsync("/readyz")).Status, Is.EqualTo(200));
        _lab.SetLbPodReady(true); // what the kubelet reports once /readyz answers 200
        await Eventually(async () => (await _lab.MustAsync($"ip route show {PodLab.Vip}")).Contains($"via {PodLab.PodIp}", StringComparison.Ordinal),
            "the node's route to the VIP through the LB pod", TimeSpan.FromMinutes(1));

        // A client on the node: the request reaches IPVS in the LB pod through the node route; the web pods, whose
        // gateway is the node, answer the LB pod (masqueraded), and the LB pod returns the reply. Without the
        // masquerade the replies would come straight from the web pods and every request would fail.
        var answers = await _lab.MustAsync($"for i in $(seq 1 10); do curl -s -m 5 http://{PodLab.Vip}/ || echo FAILED; done", TimeSpan.FromMinutes(2));
        Assert.That(answers, Does.Not.Contain("FAILED"));
        Assert.That(answers.Split('\n', StringSplitOptions.RemoveEmptyEntries).Distinct().Order(), Is.EqualTo(new[] { "web21", "web22" }), "both web pods serve");
        // The other way round: with the masquerade taken away for a moment, the same request fails.
        var chain = await _lab.MustAsync($"podman exec {_lab.Ipvs} nft list chain inet portable_lb postrouting");
        var rule = chain.Split('\n').Single(l => l.Contains("masquerade", StringComparison.Ordinal)).Trim();
        await _lab.MustAsync($"podman exec {_lab.Ipvs} nft flush chain inet portable_lb postrouting");
        var without = await _lab.MustAsync($"curl -s -m 3 http://{PodLab.Vip}/ || echo FAILED", TimeSpan.FromMinutes(1));
        await _lab.MustAsync($"podman exec {_lab.Ipvs} nft add rule inet portable_lb postrouting {PodmanPod.Quote(rule)}");
        Assert.That(without, Does.Contain("FAILED"), "without the masquerade the web pods answer the node directly, bypassing IPVS");

        // Not ready any more: the node stops sending it the VIP.
        _lab.SetLbPodReady(false);
        await Eventually(async () => !(await _lab.MustAsync($"ip route show {PodLab.Vip}")).Contains(PodLab.PodIp, StringComparison.Ordinal),
            "the LB pod's next hop to go with its readiness", TimeSpan.FromMinutes(1));
        _lab.SetLbPodReady(true);
    }

    [Test]
    [Order(7)]
    public async Task Kubectl_exec_ipvsadm_shows_the_virtual_server_the_Service_asks_for()
    {
        var table = await _lab.MustAsync($"podman exec {_lab.Ipvs} ipvsadm -Ln");
        Assert.That(table, Does.Match($@"TCP  {PodLab.Vip}:80 wlc"), table);
        foreach (var web in PodLab.WebPods.Take(2)) Assert.That(table, Does.Match($@"-> {web}:80 +Masq +1 "), table);
    }

    [Test]
    [Order(8)]
    public async Task An_EndpointSlice_change_rewrites_ipvs_conf_and_keepalived_confirms_the_reload()
    {
        var confirmed = await _lab.MetricAsync("portable_lb_reloads_total{daemon=\"keepalived\",result=\"signalled\"}") ?? 0;
        _lab.SetEndpoints(ready: true, count: 3);
        await Eventually(async () => (await _lab.RunAsync($"podman exec {_lab.Ipvs} ipvsadm -Ln | grep -q '{PodLab.WebPods[2]}:80'")).ExitCode == 0,
            "the third web pod in the kernel's IPVS table", TimeSpan.FromMinutes(1));
        Assert.That(await _lab.MetricAsync("portable_lb_reloads_total{daemon=\"keepalived\",result=\"signalled\"}"), Is.GreaterThan(confirmed), "a confirmed reload");
        Assert.That(await _lab.MustAsync($"podman exec {_lab.Ipvs} test ! -e /run/portable-lb/keepalived.reload && echo gone"), Does.Contain("gone"), "keepalived took the reload_file handshake");
    }

    [Test]
    [Order(9)]
    public async Task Endpoints_that_stop_serving_withdraw_the_route_and_route_only_reloads_keep_the_session()
    {
        var before = await SessionUptimeAsync();
        for (var flip = 1; flip <= 10; flip++)
        {
            var serving = flip % 2 == 0;
            _lab.SetEndpoints(ready: serving, count: 3);
            var waited = await _lab.MustAsync($"wait_ms 60 {(serving ? "has_route" : "lacks_route")} 127.0.0.1 {PodLab.Vip}/32", TimeSpan.FromMinutes(2));
            await TestContext.Out.WriteLineAsync($"flip {flip}: route {(serving ? "back" : "withdrawn")} at the peer after {waited.Trim()} ms (from the guest's first look)");
        }
        Assert.That(await SessionUptimeAsync(), Is.EqualTo(before), "the BGP session was not reset by the route-only reloads");
    }

    private static int Milliseconds(string report, string label) =>
        int.TryParse(report.Split('\n').Single(l => l.StartsWith(label + ": ", StringComparison.Ordinal))[(label.Length + 2)..].Trim(), out var ms) ? ms : int.MaxValue;

    private async Task<string> SessionUptimeAsync() =>
        (await _lab.MustAsync("gobgp -u 127.0.0.1 neighbor -j | python3 -c 'import json, sys; print(json.load(sys.stdin)[0][\"timers\"][\"state\"][\"uptime\"][\"seconds\"])'")).Trim();

    [Test]
    [Order(10)]
    public async Task Killing_keepalived_withdraws_the_route_at_once_and_its_restart_brings_it_back()
    {
        await Eventually(async () => (await _lab.RoutesAsync()).Contains(Route), "the route, before", TimeSpan.FromMinutes(1));
        var timings = await _lab.MustAsync($$"""
            # The pod's keepalived as the node sees it (the pid file holds its pid in the pod's own namespace): the parent, the oldest.
            kill -9 "$(pgrep -o -f '^keepalived -n -C')"
            watch_withdrawal {{PodLab.Volume}}/exabgp.conf {{PodLab.Vip}}/32 127.0.0.1 http://{{PodLab.PodIp}}:9101/readyz 30
            """, TimeSpan.FromMinutes(2));
        await TestContext.Out.WriteLineAsync($"keepalived killed; withdrawn after (ms):\n{timings}");
        // Under emulation (TCG) everything is several times slower than on a node, and each look here costs a few hundred
        // ms: the bounds leave room for that. At native speed the controller's share is held to 1 s by
        // RunCommandTests.Keepalived_dying_withdraws_its_routes_within_a_second; the measured numbers are in docs/benchmarks.md.
        Assert.That(Milliseconds(timings, "config"), Is.LessThan(3_000), "the controller withdrew at once");
        Assert.That(Milliseconds(timings, "peer"), Is.LessThan(5_000), "and the peer had it within seconds");
        Assert.That(Milliseconds(timings, "unready"), Is.LessThan(5_000), "/readyz said so while keepalived was down");

        await Eventually(async () => (await _lab.RoutesAsync()).Contains(Route), "the route back once the supervisor restarted keepalived", TimeSpan.FromMinutes(1));
        Assert.That(await _lab.ProbeAsync("/readyz"), Is.EqualTo((200, "ready\n")));
    }

    [Test]
    [Order(11)]
    public async Task Deleting_the_pod_withdraws_first_keeps_serving_through_the_grace_and_both_containers_exit_0()
    {
        var stop = PodmanPod.Delete(_lab.Spec, _lab.Placement);
        var report = await _lab.MustAsync($$"""
            start="$(now_ms)"
            ( {{stop}} ) >/tmp/stop.log 2>&1 &
            stopper=$!
            echo "withdrawn: $(wait_ms 30 lacks_route 127.0.0.1 {{PodLab.Vip}}/32)"
            echo "keepalived then: $(pgrep -x keepalived >/dev/null && echo serving || echo gone)"
            wait "$stopper"
            echo "stopped: $(( $(now_ms) - start ))"

            podman inspect --format '{{ExitFormat}}' {{_lab.Ipvs}} {{_lab.Exabgp}}
            """, TimeSpan.FromMinutes(2));
        await TestContext.Out.WriteLineAsync(report);
        Assert.That(report, Does.Contain("keepalived then: serving"), "keepalived still serves while routers converge");
        Assert.That(report, Does.Contain($"{_lab.Ipvs} exited 0").And.Contain($"{_lab.Exabgp} exited 0"), report);
        Assert.That(Milliseconds(report, "stopped"), Is.LessThan(1000 * (_lab.Spec.TerminationGracePeriodSeconds ?? 30)), "within terminationGracePeriodSeconds");
    }
}
