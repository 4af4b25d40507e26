using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Testing.FakeApi;
using PortableLb.Kubernetes;
using k8s.Models;
using PortableLb.Sources;

namespace PortableLb.IntegrationTests.Kubernetes;

[CancelAfter(120_000)]
public sealed class KubernetesSourceTests
{
    private FakeApiServer _server = null!;
    private KubernetesClient _client = null!;
    private CancellationTokenSource _stop = null!;

    [SetUp]
    public async Task Start()
    {
        _server = await FakeApiServer.StartAsync();
        _client = new KubernetesClient(_server.Connection());
        _stop = new CancellationTokenSource();
    }

    [TearDown]
    public async Task Stop()
    {
        await _stop.CancelAsync();
        _client.Dispose();
        await _server.DisposeAsync();
        _stop.Dispose();
    }

    private KubernetesSource Run(string? tuningConfigMap = "portable-lb-config")
    {
        var source = new KubernetesSource(_client, new KubernetesSourceOptions("default", null, tuningConfigMap), NullLoggerFactory.Instance);
        _ = source.RunAsync(_stop.Token);
        return source;
    }

    private static V1Pod LbPod(string name, string node, string app = "portable-lb") => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Labels = new Dictionary<string, string> { ["app.kubernetes.io/name"] = app } },
        Spec = new V1PodSpec { NodeName = node },
        Status = new V1PodStatus { PodIP = "10.244.1.5", Conditions = [new V1PodCondition { Type = "Ready", Status = "True" }] },
    };

    [Test]
    public async Task For_node_routes_it_watches_the_LB_pods_of_one_node_and_no_EndpointSlices()
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("web"));
        _server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("web-1", "web", 3));
        _server.Store.Apply(Resources.Pods, LbPod("lb-here", "node-1"));
        _server.Store.Apply(Resources.Pods, LbPod("lb-there", "node-2"));
        _server.Store.Apply(Resources.Pods, LbPod("nginx", "node-1", app: "nginx"));

        var source = new KubernetesSource(_client, new KubernetesSourceOptions("default", null, null) { WatchEndpointSlices = false, LbPodsOnNode = "node-1" }, NullLoggerFactory.Instance);
        _ = source.RunAsync(_stop.Token);
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(source.Snapshot().Pods.Select(p => p.Metadata!.Name), Is.EqualTo(new[] { "lb-here" }));
        Assert.That(source.Snapshot().EndpointSlices, Is.Empty);
        Assert.That(source.Health().Select(h => h.Part), Is.EqualTo(new[] { "services", "pods" }));

        _server.Store.Apply(Resources.Pods, LbPod("lb-second", "node-1"));
        await Eventually.True(() => source.Snapshot().Pods.Count == 2, "a second LB pod on the node");
    }

    [Test]
    public async Task The_snapshot_holds_Services_their_slices_and_the_tuning_ConfigMap_once_all_are_listed()
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("web"));
        _server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("web-1", "web", 3));
        _server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("unlabelled", "x", 1) with { Metadata = new V1ObjectMeta { Name = "unlabelled", NamespaceProperty = "default" } });
        _server.Store.Apply(Resources.ConfigMaps, new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "portable-lb-config", NamespaceProperty = "default" }, Data = new Dictionary<string, string> { ["config.yaml"] = "{}" } });
        _server.Store.Apply(Resources.ConfigMaps, new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "unrelated", NamespaceProperty = "default" } });

        var source = Run();
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        var snapshot = source.Snapshot();

        Assert.That(snapshot.Services.Single().Metadata!.Name, Is.EqualTo("web"));
        Assert.That(snapshot.SlicesFor("default", "web").Single().Endpoints, Has.Count.EqualTo(3));
        Assert.That(snapshot.EndpointSlices, Has.Count.EqualTo(1), "only slices that carry the service-name label");
        Assert.That(snapshot.FindConfigMap("default", "portable-lb-config")!.Data!["config.yaml"], Is.EqualTo("{}"));
        Assert.That(snapshot.ConfigMaps, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task It_is_not_ready_while_one_informer_has_not_listed()
    {
        _server.FailNext(5, System.Net.HttpStatusCode.ServiceUnavailable);
        var source = Run();
        await Eventually.True(() => _server.Requests.Count >= 5, "the failing lists");
        Assert.That(source.Ready.IsCompleted, Is.False);
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Test]
    public async Task A_burst_of_changes_coalesces_into_one_dirty_signal_and_the_snapshot_shows_the_last_state()
    {
        var source = Run(tuningConfigMap: null);
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        await source.Changes.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        for (var i = 1; i <= 500; i++) _server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("web-1", "web", i % 50 + 1));
        await Eventually.True(() => source.Snapshot().SlicesFor("default", "web").SingleOrDefault()?.Endpoints?.Count == 500 % 50 + 1
            && source.Snapshot().EndpointSlices.Single().Metadata!.ResourceVersion == _server.Store.ResourceVersion.ToString(), "the last of 500 changes");

        Assert.That(await source.Changes.WaitAsync(TimeSpan.Zero, CancellationToken.None), Is.True, "dirty");
        Assert.That(await source.Changes.WaitAsync(TimeSpan.Zero, CancellationToken.None), Is.False, "once, however many changes came");
    }

    [Test]
    public async Task Ten_thousand_endpoints_in_a_hundred_slices_and_a_thousand_changes_are_all_reflected()
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("big"));
        for (var s = 0; s < 100; s++) _server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice($"big-{s}", "big", 100, firstHost: s * 100 + 1));
        var source = Run(tuningConfigMap: null);
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(source.Snapshot().SlicesFor("default", "big").Sum(s => s.Endpoints!.Count), Is.EqualTo(10_000));

        // 1,000 changes: each shrinks one slice by one endpoint, round-robin.
        var sizes = Enumerable.Repeat(100, 100).ToArray();
        for (var i = 0; i < 1_000; i++)
        {
            var s = i % 100;
            sizes[s]--;
            _server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice($"big-{s}", "big", sizes[s], firstHost: s * 100 + 1));
        }
        await Eventually.True(() => source.Snapshot().SlicesFor("default", "big").Sum(s => s.Endpoints!.Count) == 9_000, "all 1,000 changes", TimeSpan.FromSeconds(60));
        var bySlice = source.Snapshot().SlicesFor("default", "big").ToDictionary(s => s.Metadata!.Name!, s => s.Endpoints!.Count);
        Assert.That(bySlice.Values, Is.All.EqualTo(90));
    }
}
