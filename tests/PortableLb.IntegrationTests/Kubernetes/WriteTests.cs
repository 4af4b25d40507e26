using PortableLb.Kubernetes;
using k8s.Models;
using PortableLb.Testing.FakeApi;

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
        _client = new KubernetesClient(_server.Connection());
    }

    [TearDown]
    public async Task Stop()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task An_event_about_a_Service_is_created(CancellationToken cancellationToken)
    {
        var created = await _client.CreateAsync(Resources.Events, "default", new Eventsv1Event
        {
            Metadata = new V1ObjectMeta { Name = "web.portable-lb.1", NamespaceProperty = "default" },
            EventTime = DateTime.UtcNow,
            ReportingController = "portable-lb.io/ipvs",
            ReportingInstance = "lb-1",
            Action = "Render",
            Reason = "InvalidConfig",
            Note = "spec.ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP",
            Type = "Warning",
            Regarding = new V1ObjectReference { ApiVersion = "v1", Kind = "Service", NamespaceProperty = "default", Name = "web" },
        }, cancellationToken);
        Assert.That(created.Metadata!.ResourceVersion, Is.Not.Null);
        Assert.That(_server.Store.All(Resources.Events).Single().Regarding!.Name, Is.EqualTo("web"));
    }
}
