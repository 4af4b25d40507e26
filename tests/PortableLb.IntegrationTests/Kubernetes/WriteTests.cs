using System.Net;
using System.Text.Json.Nodes;
using PortableLb.Testing.FakeApi;
using PortableLb.Kubernetes;
using PortableLb.Kubernetes.Config;
using PortableLb.Kubernetes.Models;

namespace PortableLb.IntegrationTests.Kubernetes;

[CancelAfter(30_000)]
public sealed class WriteTests
{
    private FakeApiServer _server = null!;
    private KubernetesClient _client = null!;

    [SetUp]
    public async Task Start()
    {
        _server = await FakeApiServer.StartAsync();
        _client = new KubernetesClient(new ClusterEndpoint(_server.Address, null, false, new StaticCredential(new Credential("test-token", null)), "default", "test"));
    }

    [TearDown]
    public async Task Stop()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task A_status_merge_patch_sets_the_load_balancer_ingress_and_leaves_the_spec_alone(CancellationToken cancellationToken)
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("web"));
        var patch = new JsonObject { ["status"] = new JsonObject { ["loadBalancer"] = new JsonObject { ["ingress"] = new JsonArray(new JsonObject { ["ip"] = "192.0.2.10" }) } } };

        var patched = await _client.PatchStatusAsync(Resources.Services, "default", "web", patch, cancellationToken);

        Assert.That(patched.Status!.LoadBalancer!.Ingress!.Single().Ip, Is.EqualTo("192.0.2.10"));
        Assert.That(patched.Spec!.LoadBalancerClass, Is.EqualTo("portable-lb.io/ipvs"));
        Assert.That(_server.Requests.Last().Request, Is.EqualTo("PATCH /api/v1/namespaces/default/services/web/status"));
    }

    [Test]
    public async Task A_lease_is_created_then_updated_and_a_stale_update_is_a_conflict(CancellationToken cancellationToken)
    {
        var lease = new Lease
        {
            Metadata = new ObjectMeta { Name = "portable-lb-web", Namespace = "default" },
            Spec = new LeaseSpec { HolderIdentity = "lb-1", LeaseDurationSeconds = 15, RenewTime = DateTimeOffset.UtcNow },
        };
        var created = await _client.CreateAsync(Resources.Leases, "default", lease, cancellationToken);
        var renewed = await _client.ReplaceAsync(Resources.Leases, "default", "portable-lb-web", created with { Spec = created.Spec! with { RenewTime = DateTimeOffset.UtcNow } }, cancellationToken);
        Assert.That(renewed.Metadata!.ResourceVersion, Is.Not.EqualTo(created.Metadata!.ResourceVersion));

        // Another replica renewed in between: our copy is stale.
        var stale = Assert.ThrowsAsync<KubernetesApiException>(() =>
            _client.ReplaceAsync(Resources.Leases, "default", "portable-lb-web", created with { Spec = created.Spec! with { HolderIdentity = "lb-2" } }, cancellationToken));
        Assert.That(stale!.IsConflict, Is.True);
        var again = Assert.ThrowsAsync<KubernetesApiException>(() => _client.CreateAsync(Resources.Leases, "default", lease, cancellationToken));
        Assert.That((again!.IsConflict, again.Status!.Reason), Is.EqualTo((true, "AlreadyExists")));
    }

    [Test]
    public async Task An_event_about_a_Service_is_created(CancellationToken cancellationToken)
    {
        var created = await _client.CreateAsync(Resources.Events, "default", new Event
        {
            Metadata = new ObjectMeta { Name = "web.portable-lb.1", Namespace = "default" },
            EventTime = DateTimeOffset.UtcNow,
            ReportingController = "portable-lb.io/ipvs",
            ReportingInstance = "lb-1",
            Action = "Render",
            Reason = "InvalidConfig",
            Note = "spec.ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP",
            Type = "Warning",
            Regarding = new ObjectReference { ApiVersion = "v1", Kind = "Service", Namespace = "default", Name = "web" },
        }, cancellationToken);
        Assert.That(created.Metadata!.ResourceVersion, Is.Not.Null);
        Assert.That(_server.Store.All(Resources.Events).Single().Regarding!.Name, Is.EqualTo("web"));
    }

    [Test]
    public void A_missing_object_is_a_404_with_the_servers_reason()
    {
        var missing = Assert.ThrowsAsync<KubernetesApiException>(() => _client.GetAsync(Resources.Services, "default", "nope", CancellationToken.None));
        Assert.That((missing!.StatusCode, missing.Status!.Reason), Is.EqualTo((HttpStatusCode.NotFound, "NotFound")));
    }
}
