using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using PortableLb.IntegrationTests.Kubernetes;
using PortableLb.Testing.FakeApi;
using PortableLb.Testing.Manifests;
using k8s.Models;
using PortableLb.Kubernetes;
using Resources = PortableLb.Kubernetes.Resources;

namespace PortableLb.IntegrationTests.Cluster;

/// <summary>A node: its network namespace in the VM, its address on the LAN, and its pod CIDR's gateway (cni0).</summary>
public sealed record ClusterNode(int Number)
{
    public string Name => $"node{Number}";
    public string Ip => $"172.30.0.1{Number}";
    public string PodGateway => $"10.244.{Number}.1";
    public string PodCidr => $"10.244.{Number}.0/24";
    public string Network => $"ns:/run/netns/{Name}";
}

/// <summary>
/// What a rolling restart did to the clients: new-connection requests and how many failed; requests on the
/// long-lived connections and how many of those connections broke; the steps with their times; each deleted pod's
/// termination as its kubelet saw it (<see cref="ClusterLab.DeleteLbPodAsync"/>); the raw report.
/// </summary>
public sealed record RollingRestartReport(int Requests, int Failed, int LongLivedRequests, int LongLivedBroken, IReadOnlyList<string> Steps, IReadOnlyList<string> Deletions, string Raw)
{
    // The counts and the clients' own lines first: a CI log shows only a failure message's first lines.
    public override string ToString() => $"new connections: {Requests} requests, {Failed} failed; long-lived: {LongLivedRequests} requests, {LongLivedBroken} connections broken\n{Raw}\n" + string.Join("\n", Steps) + "\n" + string.Join("\n", Deletions);
}

/// <summary>An LB pod the lab scheduled: its name (also its network namespace's), node, address and podman placement.</summary>
public sealed record LbPod(string Name, ClusterNode Node, string Ip, PodPlacement Placement)
{
    public string Ipvs => $"{Name}-ipvs";
}

/// <summary>
/// A small cluster inside the VM, host-gw style, with nothing in it that exists only to suit PortableLb:
/// - three nodes (network namespaces) on a LAN, each with a pod bridge (cni0) and its own pod CIDR 10.244.N.0/24;
///   the nodes route each other's pod CIDRs, and so does the router (as a host-gw or Calico cluster's router does);
/// - pods are namespaces with a veth on their node's cni0 and a default route through their node;
/// - web pods (nginx) on nodes 2 and 3; LB pods from the rendered Deployment, run by podman, on nodes 1 and 2;
///   node-routes from the rendered DaemonSet on every node, in the node's namespace;
/// - a router (FRR, ECMP with L4 hashing) with the nodes on its LAN and two clients behind it; a gobgpd route
///   reflector on the LAN, which the tuning names as bgp.peers (the user's one edit) and which reflects every path;
/// - the API server is the fake one on this machine, reached through the router's uplink;
/// - a kubelet's part is played here: the readiness probe from the rendered spec sets each LB pod's Ready condition.
/// Every route or rule the VIP needs on a node or in a pod comes from what the project ships.
/// </summary>
public sealed class ClusterLab : IAsyncDisposable
{
    public const string Namespace = "portable-lb";
    public const string Vip = "10.1.2.10";
    /// <summary>The thesis' Service: a prefix (fwmark), least connection.</summary>
    public const string ThesisPrefix = "10.1.1.0/24";
    public const string Router = "172.30.0.1";
    public const string RouteReflector = "172.30.0.2";
    public const string Client = "192.168.100.2";
    /// <summary>Another client, on a network of its own behind the router: the one a Service's source ranges leave out.</summary>
    public const string OtherClient = "192.168.101.2";
    public static readonly ClusterNode[] Nodes = [new(1), new(2), new(3)];
    public static readonly (string Name, ClusterNode Node, string Ip)[] WebPods = [("web2", Nodes[1], "10.244.2.21"), ("web3", Nodes[2], "10.244.3.21")];

    private readonly TestPki _pki;
    private readonly ConcurrentDictionary<string, LbPod> _lbPods = new();
    private readonly Dictionary<string, bool> _reported = [];
    private readonly HashSet<string> _terminating = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _kubelet;
    private PodPlacement _template = null!;

    private ClusterLab(VmSession vm, FakeApiServer api, TestPki pki, PodSpec lbSpec, PodSpec nodeRoutesSpec)
    {
        Vm = vm;
        Api = api;
        _pki = pki;
        LbSpec = lbSpec;
        NodeRoutesSpec = nodeRoutesSpec;
        _kubelet = Task.Run(() => ReportReadinessAsync(_stop.Token));
    }

    public VmSession Vm { get; }
    public FakeApiServer Api { get; }
    public PodSpec LbSpec { get; }
    public PodSpec NodeRoutesSpec { get; }
    public IReadOnlyCollection<LbPod> LbPods => _lbPods.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
    private string ReadyFolder => Path.Combine(Vm.Results, "ready");

    public static async Task<ClusterLab> StartAsync(CancellationToken cancellationToken)
    {
        var images = await ImagesAsync();
        var objects = (await RenderedManifests.RenderAsync("base")).Select(RenderedManifests.Typed).ToList();
        var lbSpec = objects.OfType<DeploymentObject>().Single().Spec.Template.Spec;
        var nodeRoutesSpec = objects.OfType<DaemonSetObject>().Single().Spec.Template.Spec;
        var tuning = objects.OfType<ConfigMapObject>().Single(c => c.Metadata.Name == "portable-lb-tuning").Data!["config.yaml"];

        var pki = new TestPki(IPAddress.Parse("10.0.2.2"));
        FakeApiServer? api = null;
        VmSession? vm = null;
        try
        {
            api = await FakeApiServer.StartAsync(new FakeApiServerOptions { ServerCertificate = pki.Server, Tokens = ["pod-token"] });
            Seed(api, tuning);
            vm = await VmSession.StartAsync(memoryMiB: 6144, cancellationToken: cancellationToken);
            var lab = new ClusterLab(vm, api, pki, lbSpec, nodeRoutesSpec);
            try
            {
                await lab.BuildAsync(images, cancellationToken);
                return lab;
            }
            catch
            {
                await lab.DisposeAsync();
                throw;
            }
        }
        catch when (vm is null)
        {
            if (api is not null) await api.DisposeAsync();
            pki.Dispose();
            throw;
        }
    }

    private async Task BuildAsync(IReadOnlyList<string> images, CancellationToken cancellationToken)
    {
        var serviceAccount = Path.Combine(Vm.Results, "serviceaccount");
        Directory.CreateDirectory(serviceAccount);
        Directory.CreateDirectory(ReadyFolder);
        await File.WriteAllTextAsync(Path.Combine(serviceAccount, "token"), "pod-token", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(serviceAccount, "ca.crt"), _pki.AuthorityPem, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(serviceAccount, "namespace"), Namespace, cancellationToken);
        _template = new PodPlacement("", Namespace, "", "", "", "10.0.2.2", Api.Address.Port, serviceAccount);

        var archive = Path.Combine(Vm.Results, "images.tar");
        await HostCommand.RunAsync(["podman", "save", "-m", "--format", "docker-archive", "-o", archive, .. images], PodmanSettings);
        var nodes = string.Join("\n", Nodes.Select(n => $"node_up {n.Name} {n.Ip} {Router} {n.PodGateway}; ip -n router route add {n.PodCidr} via {n.Ip}"));
        var hostGw = string.Join("\n", Nodes.SelectMany(n => Nodes.Where(m => m != n).Select(m => $"ip -n {n.Name} route add {m.PodCidr} via {m.Ip}")));
        var webPods = string.Join("\n", WebPods.Select(w => $"pod_netns {w.Name} {w.Ip}/24 {w.Node.PodGateway} cni0 {w.Node.Name}; web_server {w.Name}"));
        await MustAsync($$"""
            # What every node has (README: Install): ip_vs loaded; the nodes share this kernel. The images, loaded.
            modprobe ip_vs
            podman load -q -i {{archive}} >/dev/null
            rm -f {{archive}}
            lan_up
            router_up router {{Router}} {{RouteReflector}} 65021 192.168.100.1/24 {{Client}}/24 172.31.255
            client_up client2 router 192.168.101.1/24 {{OtherClient}}/24
            # The way back from the API server's side to the cluster's networks.
            ip route add 172.30.0.0/24 via 172.31.255.2
            ip route add 10.244.0.0/16 via 172.31.255.2
            {{nodes}}
            {{hostGw}}
            {{webPods}}
            """, TimeSpan.FromMinutes(6), cancellationToken);

        foreach (var node in Nodes)
        {
            var placement = _template with { Name = $"node-routes-{node.Name}", NodeIp = node.Ip, PodIp = node.Ip, NodeName = node.Name, NodeNetwork = node.Network };
            foreach (var command in PodmanPod.Create(NodeRoutesSpec, placement)) await MustAsync(command, cancellationToken: cancellationToken);
            await MustAsync(PodmanPod.Start(NodeRoutesSpec, placement), TimeSpan.FromMinutes(2), cancellationToken);
        }
    }

    /// <summary>The images the rendered Deployment names, which ./build.sh --target=Images must have built.</summary>
    private static async Task<IReadOnlyList<string>> ImagesAsync()
    {
        var objects = (await RenderedManifests.RenderAsync("base")).Select(RenderedManifests.Typed);
        var images = objects.OfType<DeploymentObject>().Single().Spec.Template.Spec.Containers.Select(c => c.Image).ToList();
        foreach (var image in images)
        {
            try
            {
                await HostCommand.RunAsync(["podman", "image", "exists", image], PodmanSettings);
            }
            catch (InvalidOperationException)
            {
                Assert.Fail($"the image {image} that manifests/base names is not built here: run ./build.sh --target=Images");
            }
        }
        return images;
    }

    /// <summary>The image manifests/base names for a container (ipvs, exabgp), checked to be built here.</summary>
    public static async Task<string> ImageOfAsync(string container) =>
        (await ImagesAsync()).Single(i => i.Contains($"/{container}:", StringComparison.Ordinal));

    public static IReadOnlyDictionary<string, string> PodmanSettings { get; } = new Dictionary<string, string> { ["CONTAINERS_CONF"] = Repository.Path("images", "containers.conf") };

    /// <summary>Each command in the VM starts with the project's podman settings and the lab's shell steps.</summary>
    private static string Prelude => $"export CONTAINERS_CONF={Repository.Path("images", "containers.conf")}; . {Repository.Path("tests", "vm", "lab.sh")}\n";

    /// <summary>
    /// The route reflector the tuning names as bgp.peers comes up on the LAN. Until then its address answers nothing,
    /// as a route reflector on a host that is down: the LB pods serve IPVS and keep trying.
    /// </summary>
    public Task StartRouteReflectorAsync() =>
        MustAsync($"lan_host rr {RouteReflector} {Router}; route_reflector_up rr {RouteReflector} 65021 10.244.0.0/16 {Router}", TimeSpan.FromMinutes(2));

    private static void Seed(FakeApiServer api, string tuning)
    {
        // The user's edits (README: Install): the route reflector in bgp.peers, and the thesis' scheduler for its Service.
        tuning = tuning.Replace("peers: []", $"peers: [\"{RouteReflector}\"]", StringComparison.Ordinal)
            + $"services:\n  {Namespace}/thesis: {{scheduler: lc}}\n";
        api.Store.Apply(Resources.ConfigMaps, new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "portable-lb-tuning", NamespaceProperty = Namespace },
            Data = new Dictionary<string, string> { ["config.yaml"] = tuning },
        });
        AddService(api, "web", new V1ServiceSpec { LoadBalancerIP = Vip }, annotations: null);
        AddService(api, "thesis", new V1ServiceSpec(), new Dictionary<string, string> { ["portable-lb.io/addresses"] = ThesisPrefix });
        SetEndpoints(api, "web", WebPods.Select(w => w.Ip));
        SetEndpoints(api, "thesis", WebPods.Select(w => w.Ip));
    }

    private static void AddService(FakeApiServer api, string name, V1ServiceSpec spec, Dictionary<string, string>? annotations) =>
        api.Store.Apply(Resources.Services, new V1Service
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Namespace, Annotations = annotations },
            Spec = spec with { Type = "LoadBalancer", LoadBalancerClass = "portable-lb.io/ipvs", Ports = [new V1ServicePort { Name = "http", Port = 80 }] },
        });

    /// <summary>A Service's spec.loadBalancerSourceRanges, as `kubectl patch` sets them; none: every source.</summary>
    public void SetSourceRanges(string service, params string[] ranges)
    {
        var stored = Api.Store.All(Resources.Services).Single(s => s.Metadata.Name == service && s.Metadata.NamespaceProperty == Namespace);
        stored.Spec.LoadBalancerSourceRanges = ranges.Length == 0 ? null : ranges;
        Api.Store.Update(Resources.Services, stored);
    }

    /// <summary>A Service's endpoints, as the EndpointSlice controller would publish them: these addresses, ready or not.</summary>
    public void SetEndpoints(string service, IEnumerable<string> addresses, bool ready = true) => SetEndpoints(Api, service, addresses, ready);

    private static void SetEndpoints(FakeApiServer api, string service, IEnumerable<string> addresses, bool ready = true) =>
        api.Store.Apply(Resources.EndpointSlices, new V1EndpointSlice
        {
            Metadata = new V1ObjectMeta { Name = $"{service}-1", NamespaceProperty = Namespace, Labels = new Dictionary<string, string> { [KubernetesModels.ServiceNameLabel] = service } },
            AddressType = "IPv4",
            Ports = [new Discoveryv1EndpointPort { Name = "http", Port = 80 }],
            Endpoints = addresses.Select(ip => new V1Endpoint { Addresses = [ip], Conditions = new V1EndpointConditions { Ready = ready, Serving = ready } }).ToList(),
        });

    /// <summary>
    /// Schedules an LB pod on NODE at IP, as the Deployment's ReplicaSet and a kubelet with a bridge CNI would: the pod's
    /// namespace wired to the node's cni0, the pod run from the rendered spec, its readiness probed. Returns once it runs.
    /// </summary>
    public async Task<LbPod> StartLbPodAsync(string name, ClusterNode node, string ip, CancellationToken cancellationToken = default)
    {
        var placement = _template with { Name = name, NodeIp = node.Ip, PodIp = ip, Network = $"ns:/run/netns/{name}", NodeName = node.Name };
        var pod = new LbPod(name, node, ip, placement);
        await MustAsync($"pod_netns {name} {ip}/24 {node.PodGateway} cni0 {node.Name}", cancellationToken: cancellationToken);
        foreach (var command in PodmanPod.Create(LbSpec, placement)) await MustAsync(command, cancellationToken: cancellationToken);
        _lbPods[name] = pod;
        await MustAsync(PodmanPod.Start(LbSpec, placement), TimeSpan.FromMinutes(3), cancellationToken);
        var probe = LbSpec.Containers.Single(c => c.Name == "ipvs").ReadinessProbe!;
        await MustAsync($"readiness_probe {name} {node.Name} http://{ip}:{ProbePort(probe)}{probe.HttpGet.Path} {probe.PeriodSeconds ?? 10} {probe.FailureThreshold ?? 3} {ReadyFolder}", cancellationToken: cancellationToken);
        return pod;
    }

    private int ProbePort(Probe probe)
    {
        var port = probe.HttpGet.Port;
        if (port.ValueKind == System.Text.Json.JsonValueKind.Number) return port.GetInt32();
        return LbSpec.Containers.SelectMany(c => c.Ports ?? []).Single(p => p.Name == port.GetString()).ContainerPort;
    }

    /// <summary>
    /// Deletes an LB pod as the API server and its kubelet do: the Pod object gets its deletionTimestamp at once; the
    /// kubelet runs the termination (preStop, SIGTERM, the rest of the grace) while still probing readiness; once the
    /// containers have exited the Pod object goes, and the CNI plugin removes the pod's network. Returns what the
    /// termination looked like, each counted from the deletion: "next hop gone: MS", "pinned when its next hop went:
    /// yes|no" (whether node-routes still kept the pod's connections on it), "withdrawn: MS" (the pod's exabgp.conf
    /// without the VIP); then
    /// "keepalived then: serving|gone", "stopped: MS", and each container's final state and exit code.
    /// </summary>
    public async Task<string> DeleteLbPodAsync(LbPod pod)
    {
        lock (_reported)
        {
            _terminating.Add(pod.Name);
            _reported.Remove(pod.Name); // report again, now with the deletionTimestamp
        }
        var containers = string.Join(" ", LbSpec.Containers.Select(c => PodmanPod.ContainerName(pod.Placement, c)));
        var report = await MustAsync($$"""
            withdrawn() { ! grep -q 'route {{Vip}}/32 ' {{Volume(pod)}}/exabgp.conf; }
            keepalived_runs() { for p in $(ip netns pids {{pod.Name}}); do [ "$(cat /proc/$p/comm 2>/dev/null)" = keepalived ] && return 0; done; return 1; }
            next_hop_gone() { ! prints 'via {{pod.Ip}} ' ip -n {{pod.Node.Name}} route show {{Vip}}; }
            pinned() { prints 'rt ip nexthop {{pod.Ip}} ' ip netns exec {{pod.Node.Name}} nft list table inet portable_lb_node; }
            start="$(now_ms)"
            echo "deleted at: $start ($(date -u +%T.%3N) UTC, the clock of the pods' logs)"
            ( {{PodmanPod.Delete(LbSpec, pod.Placement)}} ) >/tmp/stop-{{pod.Name}}.log 2>&1 &
            stopper=$!
            # All three watched at once (each at most once a round), for up to about a minute.
            gone=""; kept=""; withdrew=""
            for _ in $(seq 600); do
              t=$(( $(now_ms) - start ))
              [ -z "$gone" ] && next_hop_gone && { gone=$t; if pinned; then kept=yes; else kept=no; fi; }
              [ -z "$withdrew" ] && withdrawn && withdrew=$t
              [ -n "$gone" ] && [ -n "$withdrew" ] && break
              sleep 0.05
            done
            echo "next hop gone: ${gone:-timeout}"
            echo "pinned when its next hop went: ${kept:-unknown}"
            echo "withdrawn: ${withdrew:-timeout}"
            echo "keepalived then: $(keepalived_runs && echo serving || echo gone)"
            wait "$stopper"
            echo "stopped: $(( $(now_ms) - start ))"
            podman inspect --format '{{ExitFormat}}' {{containers}}
            echo "its controller's shutdown:"; podman logs {{pod.Ipvs}} 2>&1 | grep -E 'ReconcileLoop|ControllerService' | tail -n 5 | cut -c1-300 | sed 's/^/  /'
            echo "its node's node-routes:"; podman logs node-routes-{{pod.Node.Name}}-node-routes 2>&1 | grep -E 'NodeRoutesLoop' | tail -n 4 | cut -c1-300 | sed 's/^/  /'
            """, TimeSpan.FromMinutes(2));
        await MustAsync($"rm -f {ReadyFolder}/{pod.Name}.ready; ip netns del {pod.Name}");
        lock (_reported)
        {
            _lbPods.TryRemove(pod.Name, out _);
            _reported.Remove(pod.Name);
            Api.Store.Delete(Resources.Pods, Namespace, pod.Name);
        }
        return report;
    }

    // podman's Go template, kept out of the C# interpolated scripts.
    private const string ExitFormat = "{{.Name}} {{.State.Status}} {{.State.ExitCode}}";

    /// <summary>Whether the kubelet (the probe loop) reports the pod Ready, as its Pod object says.</summary>
    public bool IsReady(LbPod pod)
    {
        lock (_reported) return _reported.GetValueOrDefault(pod.Name);
    }

    /// <summary>The kubelet's status updates: each LB pod's Pod object with its node, address and Ready condition as probed.</summary>
    private async Task ReportReadinessAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var pod in _lbPods.Values)
            {
                var file = Path.Combine(ReadyFolder, $"{pod.Name}.ready");
                string text;
                try
                {
                    text = File.Exists(file) ? (await File.ReadAllTextAsync(file, cancellationToken)).Trim() : "False";
                }
                catch (IOException)
                {
                    continue; // being replaced; the next look sees it
                }
                var ready = text == "True";
                // Under the lock, so that a pod being forgotten is never reported again after its deletion.
                lock (_reported)
                {
                    if (!_lbPods.ContainsKey(pod.Name) || (_reported.TryGetValue(pod.Name, out var was) && was == ready)) continue;
                    _reported[pod.Name] = ready;
                    Api.Store.Apply(Resources.Pods, new V1Pod
                    {
                        Metadata = new V1ObjectMeta
                        {
                            Name = pod.Name,
                            NamespaceProperty = Namespace,
                            Labels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = "portable-lb" },
                            DeletionTimestamp = _terminating.Contains(pod.Name) ? DateTime.UtcNow : null,
                        },
                        Spec = new V1PodSpec { NodeName = pod.Node.Name },
                        Status = new V1PodStatus { PodIP = pod.Ip, Conditions = [new V1PodCondition { Type = "Ready", Status = ready ? "True" : "False" }] },
                    });
                }
            }
            await Task.Delay(250, cancellationToken);
        }
    }

    public Task<string> MustAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ThrowIfKubeletFailed();
        return Vm.MustAsync(Prelude + script, timeout, cancellationToken);
    }

    public Task<(int ExitCode, string Output)> RunAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ThrowIfKubeletFailed();
        return Vm.RunAsync(Prelude + script, timeout, cancellationToken);
    }

    /// <summary>The kubelet's loop runs beside the tests: its failure shows at the next step, not as a silent stale status.</summary>
    private void ThrowIfKubeletFailed()
    {
        if (_kubelet.IsFaulted) throw new InvalidOperationException("the lab's kubelet (readiness reporting) failed", _kubelet.Exception);
    }

    /// <summary>The router's kernel next hops for an address, sorted.</summary>
    public async Task<IReadOnlyList<string>> RouterNextHopsAsync(string address) =>
        (await MustAsync($"next_hops router {address}")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The next hops of a node's route to an address (the ones node-routes keeps), sorted.</summary>
    public async Task<IReadOnlyList<string>> NodeNextHopsAsync(ClusterNode node, string address) =>
        (await MustAsync($"next_hops {node.Name} {address}")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Connections IPVS in the pod scheduled for the address's virtual servers so far (`ipvsadm -Ln --stats`).</summary>
    public async Task<long> IpvsConnectionsAsync(LbPod pod)
    {
        var stats = await MustAsync($"podman exec {pod.Ipvs} ipvsadm -Ln --stats --exact");
        return stats.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(w => w.Length > 2 && w[0] is "TCP" or "FWM")
            .Sum(w => long.Parse(w[2], CultureInfo.InvariantCulture));
    }

    /// <summary>GET http://POD_IP:9101/PATH, as the kubelet probes it and Prometheus scrapes it: status code and body.
    /// A request curl cannot finish is tried again, up to three times in all, as the kubelet's failureThreshold
    /// does; after that it is status 0, with curl's exit code and error as the body, so that a failed assertion says why.</summary>
    public async Task<(int Status, string Body)> ProbeAsync(LbPod pod, string path)
    {
        var answer = (Status: 0, Body: "");
        for (var attempt = 0; attempt < 3 && answer.Status == 0; attempt++) answer = await ProbeOnceAsync(pod, path);
        return answer;
    }

    private async Task<(int Status, string Body)> ProbeOnceAsync(LbPod pod, string path)
    {
        var (_, output) = await RunAsync($$"""
            set +e
            body="$(mktemp)"; error="$(mktemp)"
            status="$(curl -sS -m 10 -o "$body" -w '%{http_code}' http://{{pod.Ip}}:9101{{path}} 2>"$error")"; rc=$?
            if [ "$rc" = 0 ]; then echo "$status"; cat "$body"; else echo 0; echo "curl exited $rc after status $status: $(cat "$error")"; fi
            rm -f "$body" "$error"
            """);
        var newline = output.IndexOf('\n', StringComparison.Ordinal);
        return newline > 0 && int.TryParse(output[..newline], out var status) ? (status, output[(newline + 1)..]) : (0, output);
    }

    /// <summary>A metric's value from the pod's /metrics, or null when the pod does not report it.</summary>
    public async Task<double?> MetricAsync(LbPod pod, string sample)
    {
        var (status, body) = await ProbeAsync(pod, "/metrics");
        if (status != 200) throw new InvalidOperationException($"{pod.Name}'s /metrics answered {status}: {body}");
        var line = body.Split('\n').FirstOrDefault(l => l.StartsWith(sample + " ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(sample.Length + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>The pod's shared emptyDir as the node sees it (podman's volume folder), readable without entering the pod.</summary>
    public static string Volume(LbPod pod) => $"/var/lib/containers/storage/volumes/{pod.Name}-run/_data";

    /// <summary>The BGP sessions the route reflector has established, by peer address.</summary>
    public async Task<IReadOnlyList<string>> EstablishedPeersAsync() =>
        (await MustAsync($"gobgp_sessions rr {RouteReflector} | awk '$2 == 6 {{ print $1 }}' | sort")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Polls until the condition holds; a timeout fails the test with the lab's diagnostics.</summary>
    public async Task WaitAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) Assert.Fail($"timed out after {timeout.TotalSeconds:0} s waiting for: {what}\n{await DiagnosticsAsync()}");
            await Task.Delay(500);
        }
        // The waits are the lab's clock: a slow one shows in the log even when it passes.
        await TestContext.Progress.WriteLineAsync($"{clock.Elapsed.TotalSeconds,6:0.0} s until: {what}");
    }

    public Task RouterSendsAsync(string address, string[] nodes, TimeSpan timeout) =>
        WaitAsync(async () => (await RouterNextHopsAsync(address)).SequenceEqual(nodes),
            $"the router's route to {address} via [{string.Join(", ", nodes)}]", timeout);

    public Task NodeSendsAsync(ClusterNode node, string[] pods, TimeSpan timeout) =>
        WaitAsync(async () => (await NodeNextHopsAsync(node, Vip)).SequenceEqual(pods.Order(StringComparer.Ordinal)),
            $"{node.Name}'s route to the VIP via [{string.Join(", ", pods)}]", timeout);

    /// <summary>
    /// `kubectl rollout restart` of the LB Deployment (maxSurge 1, maxUnavailable 0), one pod at a time: the new pod
    /// on the old one's node (the LB pods keep to the nodes the router peers with), ready, then the old one deleted.
    /// Meanwhile the client opens a new connection for a request every 0.1 s, and holds 10 long-lived keep-alive
    /// connections with a request on each every second. Checks each node's route on the way.
    /// </summary>
    public async Task<RollingRestartReport> RollingRestartAsync(string suffix)
    {
        await MustAsync($"clients_start client {Vip} /tmp/roll 1800 0.1 10 1");
        // The routes the flows take, sampled every 0.1 s: the report keeps each change, to line up with the breaks.
        await MustAsync($$"""
            rm -f /tmp/trace /tmp/trace.stop
            ( for _ in $(seq 6000); do
                [ -e /tmp/trace.stop ] && break
                for ns in router node1 node2; do echo "$(now_ms) $ns $(ip -n $ns route show {{Vip}} | tr -s '\n\t ' ' ')"; done
                sleep 0.1
              done ) >/tmp/trace 2>&1 &
            """);
        var steps = new List<string>();
        var deletions = new List<string>();
        // Each step with the VM's clock (ms since boot), the clock the clients stamp their requests with.
        async Task Step(string what) => steps.Add($"{(await MustAsync("now_ms")).Trim()} {what}");
        foreach (var old in LbPods.ToList())
        {
            var clock = Stopwatch.StartNew();
            var surge = await StartLbPodAsync(old.Name[..3] + suffix, old.Node, old.Ip[..(old.Ip.LastIndexOf('.') + 1)] + (int.Parse(old.Ip[(old.Ip.LastIndexOf('.') + 1)..], CultureInfo.InvariantCulture) + 1));
            await WaitAsync(() => Task.FromResult(IsReady(surge)), $"{surge.Name} ready", TimeSpan.FromMinutes(10));
            await Step($"{surge.Name} ready after {clock.Elapsed.TotalSeconds:0} s");
            // Two LB pods on one node share the node's route, ECMP across them.
            await NodeSendsAsync(old.Node, [old.Ip, surge.Ip], TimeSpan.FromMinutes(2));
            await Step($"{old.Node.Name} sends to {old.Name} and {surge.Name}");

            clock.Restart();
            // The old one goes through its graceful sequence; its next hop drains (the least weight) as soon as it is
            // deleted and leaves the node's route a few seconds later, while it still serves (timed inside the
            // deletion: the VM runs one command at a time).
            deletions.Add(await DeleteLbPodAsync(old));
            await Step($"{old.Name} deleted after {clock.Elapsed.TotalSeconds:0.0} s");
            await NodeSendsAsync(old.Node, [surge.Ip], TimeSpan.FromMinutes(1));
            await RouterSendsAsync(Vip, [.. LbPods.Select(p => p.Node.Ip).Distinct().Order(StringComparer.Ordinal)], TimeSpan.FromMinutes(3));
            await Step($"{old.Node.Name} sends to {surge.Name} only; the router to both nodes");
        }

        var report = await MustAsync("""
            sleep 3
            clients_stop /tmp/roll
            touch /tmp/trace.stop; sleep 0.3
            awk '{ key = $2; line = $0; sub(/^[0-9]+ [a-z0-9]+ /, "", line); if (last[key] != line) { print "route " $1 " " key ": " line; last[key] = line } }' /tmp/trace
            echo "node-routes: $(podman logs node-routes-node1-node-routes 2>&1 | grep -o 'through [a-z ]*' | tail -n 1)"
            echo "requests $(grep -c '^new ' /tmp/roll)"
            echo "failed $(awk '$1 == "new" && $3 != 200' /tmp/roll | wc -l)"
            awk '$1 == "new" && $3 != 200 { print "failed-request sent at", $2, "after", $4, "ms:", $5 }' /tmp/roll
            echo "slowest answered: $(awk '$1 == "new" && $3 == 200 { print $4 }' /tmp/roll | sort -n | tail -n 1) ms"
            grep '^long-' /tmp/roll
            """, TimeSpan.FromMinutes(1));
        int Count(string label) => int.Parse(report.Split('\n').Single(l => l.StartsWith(label + " ", StringComparison.Ordinal))[(label.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
        return new RollingRestartReport(Count("requests"), Count("failed"), Count("long-requests"), Count("long-broken"), steps, deletions, report);
    }

    /// <summary>What an LB pod's controller did, pass by pass: each apply with its steps' durations, each rejection, failure or pending reload.</summary>
    public async Task<string> ApplyHistoryAsync(LbPod pod) =>
        (await RunAsync($"podman logs {pod.Ipvs} 2>&1 | grep -E {AppliesPattern} | tail -n 40", TimeSpan.FromMinutes(1))).Output;

    /// <summary>The controller's log lines that say what each pass did.</summary>
    private const string AppliesPattern = "'Sources are ready|Applied [0-9]|Config rejected|Apply failed|has not confirmed'";

    /// <summary>Everything worth reading when a check fails.</summary>
    public async Task<string> DiagnosticsAsync()
    {
        var pods = string.Join(" ", LbPods.Select(p => p.Name));
        var (_, output) = await RunAsync("set +e\npodman ps -a --format '{{.Names}} {{.Status}}'\n" + $$"""
            for p in {{pods}}; do
              echo "--- $p: ready=$(cat {{ReadyFolder}}/$p.ready 2>/dev/null)"
              podman logs --tail 25 $p-ipvs 2>&1; podman logs --tail 10 $p-exabgp 2>&1
              echo "--- $p: ipvsadm -Ln"; podman exec $p-ipvs ipvsadm -Ln 2>&1
              echo "--- $p: applies"; podman logs $p-ipvs 2>&1 | grep -E {{AppliesPattern}} | tail -n 20
              echo "--- $p: keepalived, without the checkers' chatter"; podman logs $p-ipvs 2>&1 | grep -i 'keepalived' | grep -v 'TCP connection\|Activating' | tail -n 30
            done
            for n in node1 node2 node3; do echo "--- $n"; podman logs --tail 10 node-routes-$n-node-routes 2>&1; ip -n $n route show proto 201; done
            echo "--- router"; ip -n router route
            echo "--- route reflector"; gobgp_sessions rr {{RouteReflector}}; gobgp_routes rr {{RouteReflector}}
            echo "--- busiest processes"; ps -eo pid,etime,time,rss,args --sort=-time | head -15 | cut -c1-160
            """, TimeSpan.FromMinutes(1));
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _kubelet;
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
        await Vm.DisposeAsync();
        await Api.DisposeAsync();
        _pki.Dispose();
        _stop.Dispose();
    }
}
