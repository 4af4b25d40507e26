using System.Net;
using PortableLb.IntegrationTests.Kubernetes;
using PortableLb.Testing.FakeApi;
using PortableLb.Testing.Manifests;
using K8s = PortableLb.Kubernetes.Models;

namespace PortableLb.IntegrationTests.Pod;

/// <summary>
/// A one-node cluster for the LB pod as manifests/base describes it, inside a VM whose kernel has IPVS: podman runs
/// the pod from the rendered Deployment (<see cref="PodmanPod"/>) on a podman network, as a kubelet would; the API
/// server is the fake one on this machine (reached from the VM as 10.0.2.2, over TLS, with a service-account token);
/// the BGP peer is a real gobgpd on the node side of the pod network (started by the tests); the web pods are nginx in network namespaces on
/// the same bridge, with the node as their gateway; the node-routes DaemonSet's pod runs in the node's own network
/// namespace, also from the rendered manifests. The images are the ones ./build.sh --target=Images built, loaded
/// into the VM.
/// </summary>
public sealed class PodLab : IAsyncDisposable
{
    public const string Namespace = "portable-lb";
    public const string PodName = "portable-lb-0";
    public const string Gateway = "10.89.0.1";
    public const string PodIp = "10.89.0.10";
    public const string NodeIp = "10.0.2.15";
    public const string Vip = "10.1.2.10";

    /// <summary>The shared emptyDir as the node sees it (podman's volume folder), readable without entering the pod.</summary>
    public const string Volume = "/var/lib/containers/storage/volumes/" + PodName + "-run/_data";
    public static readonly string[] WebPods = ["10.89.0.21", "10.89.0.22", "10.89.0.23"];

    private readonly TestPki _pki;

    private PodLab(VmSession vm, FakeApiServer api, TestPki pki, PodSpec spec, PodPlacement placement)
    {
        Vm = vm;
        Api = api;
        _pki = pki;
        Spec = spec;
        Placement = placement;
    }

    /// <summary>The node-routes DaemonSet's pod on this node, run from the rendered DaemonSet like the LB pod.</summary>
    public const string NodeRoutesPodName = "portable-lb-node-routes-0";

    public VmSession Vm { get; }
    public FakeApiServer Api { get; }
    public PodSpec Spec { get; }
    public PodPlacement Placement { get; }

    public string Ipvs => PodmanPod.ContainerName(Placement, Spec.Containers.Single(c => c.Name == "ipvs"));
    public string Exabgp => PodmanPod.ContainerName(Placement, Spec.Containers.Single(c => c.Name == "exabgp"));

    /// <summary>Each command in the VM starts with the project's podman settings and the lab's shell steps.</summary>
    public static string Prelude => $"export CONTAINERS_CONF={Repository.Path("images", "containers.conf")}; . {Repository.Path("tests", "vm", "lab.sh")}\n";

    public static async Task<PodLab> StartAsync(CancellationToken cancellationToken)
    {
        var images = await ImagesOfTheManifestsAsync();
        var objects = (await RenderedManifests.RenderAsync("base")).Select(RenderedManifests.Typed).ToList();
        var spec = objects.OfType<DeploymentObject>().Single().Spec.Template.Spec;
        var tuning = objects.OfType<ConfigMapObject>().Single(c => c.Metadata.Name == "portable-lb-tuning");

        var pki = new TestPki(IPAddress.Parse("10.0.2.2"));
        FakeApiServer? api = null;
        VmSession? vm = null;
        try
        {
            api = await FakeApiServer.StartAsync(new FakeApiServerOptions { ServerCertificate = pki.Server, Tokens = ["pod-token"] });
            // The user's one edit (README: Install): the route reflector in bgp.peers.
            Seed(api, tuning.Data!["config.yaml"].Replace("peers: []", $"peers: [\"{Gateway}\"]", StringComparison.Ordinal));

            vm = await VmSession.StartAsync(memoryMiB: 4096, cancellationToken: cancellationToken);
            var serviceAccount = Path.Combine(vm.Results, "serviceaccount");
            Directory.CreateDirectory(serviceAccount);
            await File.WriteAllTextAsync(Path.Combine(serviceAccount, "token"), "pod-token", cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(serviceAccount, "ca.crt"), pki.AuthorityPem, cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(serviceAccount, "namespace"), Namespace, cancellationToken);
            var placement = new PodPlacement(PodName, Namespace, NodeIp, PodIp, "plbnet", "10.0.2.2", api.Address.Port, serviceAccount);
            var lab = new PodLab(vm, api, pki, spec, placement);

            var archive = Path.Combine(vm.Results, "images.tar");
            await HostCommand.RunAsync(["podman", "save", "-m", "--format", "docker-archive", "-o", archive, .. images], PodmanSettings);
            await lab.MustAsync($$"""
                # The node: ip_vs loaded (README: Install), the images, the pod network.
                modprobe ip_vs
                podman load -q -i {{archive}} >/dev/null
                podman network create --subnet 10.89.0.0/24 --gateway {{Gateway}} plbnet >/dev/null
                """, TimeSpan.FromMinutes(5), cancellationToken);
            foreach (var command in PodmanPod.Create(spec, placement)) await lab.MustAsync(command, cancellationToken: cancellationToken);
            var nodeRoutes = objects.OfType<DaemonSetObject>().Single().Spec.Template.Spec;
            var nodeRoutesPlacement = placement with { Name = NodeRoutesPodName, PodIp = NodeIp };
            foreach (var command in PodmanPod.Create(nodeRoutes, nodeRoutesPlacement)) await lab.MustAsync(command, cancellationToken: cancellationToken);
            // The pod's sandbox first (netavark makes the bridge with it), then what sits beside it on the network.
            await lab.MustAsync($$"""
                podman start {{PodmanPod.InfraName(placement)}} >/dev/null
                bridge="$(podman network inspect plbnet | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["network_interface"])')"
                # Web pods on the pod network.
                for ip in {{string.Join(" ", WebPods)}}; do
                  name="web${ip##*.}"
                  pod_netns "$name" "$ip/24" {{Gateway}} "$bridge"
                  web_server "$name"
                done
                # The route reflector's config, on the node side of the pod network; the tests start it. Until then it
                # is unreachable, as a route reflector behind a firewall or on a host that is down is: no answer at all.
                nft add table inet rr-down
                nft add chain inet rr-down input '{ type filter hook input priority 0; policy accept; }'
                nft add rule inet rr-down input ip daddr {{Gateway}} tcp dport 179 drop
                mkdir -p /srv/rr
                cat >/srv/rr/gobgpd.yaml <<CONF
                global:
                  config: {as: 65021, router-id: {{Gateway}}, port: 179, local-address-list: [{{Gateway}}]}
                neighbors:
                  - config: {neighbor-address: {{PodIp}}, peer-as: 65021}
                    transport:
                      config: {passive-mode: true}
                CONF
                """, TimeSpan.FromMinutes(2), cancellationToken);
            await lab.MustAsync($"podman pod start {PodName} >/dev/null; podman pod start {NodeRoutesPodName} >/dev/null", TimeSpan.FromMinutes(3), cancellationToken);
            return lab;
        }
        catch
        {
            if (vm is not null) await vm.DisposeAsync();
            if (api is not null) await api.DisposeAsync();
            pki.Dispose();
            throw;
        }
    }

    /// <summary>The image references the rendered Deployment names, which the Images target must have built.</summary>
    private static async Task<IReadOnlyList<string>> ImagesOfTheManifestsAsync()
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
        (await ImagesOfTheManifestsAsync()).Single(i => i.Contains($"/{container}:", StringComparison.Ordinal));

    public static IReadOnlyDictionary<string, string> PodmanSettings { get; } = new Dictionary<string, string> { ["CONTAINERS_CONF"] = Repository.Path("images", "containers.conf") };

    private static void Seed(FakeApiServer api, string tuning)
    {
        api.Store.Apply(PortableLb.Kubernetes.Resources.ConfigMaps, new K8s.ConfigMap
        {
            Metadata = new K8s.ObjectMeta { Name = "portable-lb-tuning", Namespace = Namespace },
            Data = new Dictionary<string, string> { ["config.yaml"] = tuning },
        });
        api.Store.Apply(PortableLb.Kubernetes.Resources.Services, new K8s.Service
        {
            Metadata = new K8s.ObjectMeta { Name = "web", Namespace = Namespace },
            Spec = new K8s.ServiceSpec { Type = "LoadBalancer", LoadBalancerClass = "portable-lb.io/ipvs", LoadBalancerIP = Vip, Ports = [new K8s.ServicePort { Name = "http", Port = 80 }] },
        });
        SetEndpoints(api, ready: true, count: 2);
        SetLbPodReady(api, ready: false);
    }

    /// <summary>The LB pod's Pod object as the kubelet reports it: on this node, its address, and its Ready condition.</summary>
    public void SetLbPodReady(bool ready) => SetLbPodReady(Api, ready);

    private static void SetLbPodReady(FakeApiServer api, bool ready) => api.Store.Apply(PortableLb.Kubernetes.Resources.Pods, new K8s.Pod
    {
        Metadata = new K8s.ObjectMeta { Name = PodName, Namespace = Namespace, Labels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = "portable-lb" } },
        Spec = new K8s.PodSpec { NodeName = "node-1" },
        Status = new K8s.PodStatus { PodIP = PodIp, Conditions = [new K8s.PodCondition("Ready", ready ? "True" : "False")] },
    });

    /// <summary>The web Service's endpoints, as the EndpointSlice controller would publish them.</summary>
    public void SetEndpoints(bool ready, int count) => SetEndpoints(Api, ready, count);

    private static void SetEndpoints(FakeApiServer api, bool ready, int count) => api.Store.Apply(PortableLb.Kubernetes.Resources.EndpointSlices, new K8s.EndpointSlice
    {
        Metadata = new K8s.ObjectMeta { Name = "web-1", Namespace = Namespace, Labels = new Dictionary<string, string> { [K8s.EndpointSlice.ServiceNameLabel] = "web" } },
        AddressType = "IPv4",
        Ports = [new K8s.EndpointPort { Name = "http", Port = 80 }],
        Endpoints = WebPods.Take(count).Select(ip => new K8s.Endpoint { Addresses = [ip], Conditions = new K8s.EndpointConditions { Ready = ready, Serving = ready } }).ToList(),
    });

    /// <summary>The route reflector the tuning names as bgp.peers: until this runs, the LB pod's peer is unreachable.</summary>
    public Task StartRouteReflectorAsync() => MustAsync("nft delete table inet rr-down; gobgpd_start \"\" /srv/rr/gobgpd.yaml 127.0.0.1");

    public Task<string> MustAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default) => Vm.MustAsync(Prelude + script, timeout, cancellationToken);

    public Task<(int ExitCode, string Output)> RunAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default) => Vm.RunAsync(Prelude + script, timeout, cancellationToken);

    /// <summary>GET http://POD_IP:9101/PATH from the node, as the kubelet probes it: status code and body.</summary>
    public async Task<(int Status, string Body)> ProbeAsync(string path)
    {
        var (_, output) = await RunAsync($"curl -s -m 5 -o /tmp/probe -w '%{{http_code}}' http://{PodIp}:9101{path}; echo; cat /tmp/probe");
        var newline = output.IndexOf('\n', StringComparison.Ordinal);
        return int.TryParse(output[..Math.Max(newline, 0)], out var status) ? (status, output[(newline + 1)..]) : (0, output);
    }

    /// <summary>The routes the route reflector has: "PREFIX NEXTHOP" lines.</summary>
    public async Task<IReadOnlyList<string>> RoutesAsync() =>
        (await MustAsync("gobgp_routes \"\" 127.0.0.1")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>A metric's value from /metrics, or null.</summary>
    public async Task<double?> MetricAsync(string sample)
    {
        var (status, body) = await ProbeAsync("/metrics");
        if (status != 200) return null;
        var line = body.Split('\n').FirstOrDefault(l => l.StartsWith(sample + " ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(sample.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Everything worth reading when a check fails: the pod's containers, their logs, the controller's files.</summary>
    public async Task<string> DiagnosticsAsync()
    {
        var (_, output) = await RunAsync("podman ps -a --pod --format '{{.Names}} {{.Status}} restarts={{.Restarts}}'\n" + $$"""
            for c in {{Ipvs}} {{Exabgp}} {{NodeRoutesPodName}}-node-routes; do echo "--- logs $c"; podman logs --tail 40 $c 2>&1; done
            echo "--- node routes"; ip route show proto 201
            echo "--- volume"; podman exec {{Ipvs}} ls -la /run/portable-lb 2>&1
            echo "--- exabgp.log"; podman exec {{Ipvs}} tail -n 20 /run/portable-lb/exabgp.log 2>&1
            echo "--- gobgpd"; tail -n 10 /srv/rr/gobgpd.log
            """, TimeSpan.FromMinutes(1));
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        await Vm.DisposeAsync();
        await Api.DisposeAsync();
        _pki.Dispose();
    }

}
