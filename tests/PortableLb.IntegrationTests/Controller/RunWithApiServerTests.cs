using PortableLb.Kubernetes;
using k8s.Models;
using PortableLb.Testing.FakeApi;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>`portable-lb run` against the fake API server: the Kubernetes path end to end, Events included.</summary>
[CancelAfter(90_000)]
public sealed class RunWithApiServerTests
{
    [Test]
    public async Task Files_follow_the_API_and_a_bad_Service_gets_one_Event_while_the_others_are_served()
    {
        Daemons.Require("keepalived");
        var folder = Directory.CreateTempSubdirectory("portable-lb-run-api-").FullName;
        await using var server = await FakeApiServer.StartAsync();
        var output = new List<string>();
        System.Diagnostics.Process? controller = null;
        try
        {
            server.Store.Apply(Resources.Services, TestObjects.Service("web", address: "192.0.2.10"));
            server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("web-1", "web", 2));
            server.Store.Apply(Resources.Services, TestObjects.Service("broken", address: "192.0.2.300"));
            server.Store.Apply(Resources.ConfigMaps, new V1ConfigMap
            {
                Metadata = new V1ObjectMeta { Name = "portable-lb-config", NamespaceProperty = "default" },
                Data = new Dictionary<string, string> { ["config.yaml"] = "virtualServer: {scheduler: wrr}\n" },
            });
            controller = ApiControllers.Start(folder, await ApiControllers.KubeconfigAsync(server, folder), "run", output);
            var ipvs = Path.Combine(folder, "run", "ipvs.conf");
            string Ipvs() => File.Exists(ipvs) ? File.ReadAllText(ipvs) : "";
            await Eventually.True(() => Ipvs().Contains("virtual_server 192.0.2.10 80") && Ipvs().Contains("lb_algo wrr"), "web rendered with the ConfigMap's tuning");

            server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("web-1", "web", 3));
            await Eventually.True(() => Ipvs().Contains("real_server 10.0.0.3 8080"), "the scale-up from a watch event");

            await Eventually.True(() => server.Store.All(Resources.Events).Any(e => e.Regarding?.Name == "broken"), "an Event on the broken Service");
            var events = server.Store.All(Resources.Events).Where(e => e.Regarding?.Name == "broken").ToList();
            Assert.That(events.Single().Note, Does.Contain("\"192.0.2.300\" is not an IPv4 or IPv6 address"));
            Assert.That(events.Single().Reason, Is.EqualTo("InvalidService"));
            Assert.That(server.Store.All(Resources.Events).Where(e => e.Regarding?.Name == "web" && e.Type == "Warning"), Is.Empty);
        }
        catch (AssertionException)
        {
            lock (output) TestContext.Out.WriteLine(string.Join("\n", output.TakeLast(40)));
            throw;
        }
        finally
        {
            if (controller is { HasExited: false }) controller.Kill(entireProcessTree: true);
            controller?.Dispose();
            Directory.Delete(folder, recursive: true);
        }
    }
    private static string Shown(FakeApiServer server, string name) =>
        server.Store.All(Resources.Services).Single(s => s.Metadata.Name == name).Status?.LoadBalancer?.Ingress is { } ingress
            ? string.Join(" ", ingress.Select(i => $"{i.Ip}/{i.IpMode}"))
            : "";

    private static void Update(FakeApiServer server, string name, Action<V1Service> change)
    {
        // As `kubectl edit` does: the object as stored with one change; its status is the server's.
        var service = server.Store.All(Resources.Services).Single(s => s.Metadata.Name == name);
        change(service);
        server.Store.Update(Resources.Services, service);
    }

    private static int StatusWrites(FakeApiServer server, string name) =>
        server.Requests.Count(r => r.Request.StartsWith($"PATCH /api/v1/namespaces/default/services/{name}/status", StringComparison.Ordinal));

    [Test]
    public async Task Two_controllers_elect_one_writer_that_shows_each_served_address_as_EXTERNAL_IP_and_a_survivor_takes_over()
    {
        Daemons.Require("keepalived");
        var folder = Directory.CreateTempSubdirectory("portable-lb-status-").FullName;
        await using var server = await FakeApiServer.StartAsync();
        var output = new List<string>();
        var controllers = new Dictionary<string, System.Diagnostics.Process>();
        try
        {
            server.Store.Apply(Resources.Services, TestObjects.Service("web", address: "192.0.2.10, 198.51.100.0/28"));
            server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("web-1", "web", 2));
            var theirs = TestObjects.Service("theirs", address: "192.0.2.99");
            theirs.Spec.LoadBalancerClass = "example.com/other";
            theirs.Status = new V1ServiceStatus { LoadBalancer = new V1LoadBalancerStatus { Ingress = [new V1LoadBalancerIngress { Ip = "203.0.113.1" }] } };
            server.Store.Apply(Resources.Services, theirs);
            // A Service that names no address gets one from the pool, recorded in its status and served by both pods.
            var pooled = TestObjects.Service("pooled");
            pooled.Metadata.Annotations.Clear();
            server.Store.Apply(Resources.Services, pooled);
            server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("pooled-1", "pooled", 2));
            server.Store.Apply(Resources.ConfigMaps, new V1ConfigMap
            {
                Metadata = new V1ObjectMeta { Name = "portable-lb-config", NamespaceProperty = "default" },
                Data = new Dictionary<string, string> { ["config.yaml"] = "pools: [{name: lan, addresses: [192.0.2.0/24, 198.51.100.0/24]}]\n" },
            });
            var kubeconfig = await ApiControllers.KubeconfigAsync(server, folder);
            foreach (var pod in new[] { "lb-a", "lb-b" }) controllers[pod] = ApiControllers.Start(folder, kubeconfig, pod, output);
            await Eventually.True(() => Shown(server, "pooled") == "192.0.2.0/VIP", "the pooled Service gets the pool's lowest free address", TimeSpan.FromSeconds(30));
            foreach (var pod in controllers.Keys)
            {
                var ipvs = Path.Combine(folder, pod, "ipvs.conf");
                await Eventually.True(() => File.Exists(ipvs) && File.ReadAllText(ipvs).Contains("virtual_server 192.0.2.0 80"), $"{pod} serves the allocated address");
            }

            await Eventually.True(() => Shown(server, "web") == "192.0.2.10/VIP", "web's status shows its single address, not its prefix", TimeSpan.FromSeconds(30));
            var leader = server.Store.All(Resources.Leases).Single(l => l.Metadata.Name == "portable-lb").Spec.HolderIdentity;
            Assert.That(leader, Is.AnyOf("lb-a", "lb-b"));
            await Task.Delay(2_000);
            Assert.That(StatusWrites(server, "web"), Is.EqualTo(1), "one writer, and a written status is not written again");
            Assert.That(Shown(server, "theirs"), Is.EqualTo("203.0.113.1/"), "another class's status is never touched");
            var assigned = server.Store.All(Resources.Events).Where(e => e.Regarding?.Name == "web" && e.Reason == "AddressAssigned").ToList();
            Assert.That(assigned.Select(e => (e.Type, e.Note, e.ReportingInstance)), Is.EqualTo(new[] { ("Normal", "status.loadBalancer.ingress: 192.0.2.10 (VIP)", leader) }));

            Update(server, "web", s => s.Metadata.Annotations["portable-lb.io/addresses"] = "192.0.2.11");
            await Eventually.True(() => Shown(server, "web") == "192.0.2.11/VIP", "the status follows a new address");

            // The leader dies without a word (no release): the survivor takes over once the Lease has stood still for 15 s.
            controllers[leader!].Kill(entireProcessTree: true);
            var killed = System.Diagnostics.Stopwatch.StartNew();
            Update(server, "web", s => s.Metadata.Annotations["portable-lb.io/addresses"] = "203.0.113.5");
            await Eventually.True(() => Shown(server, "web") == "", "the survivor clears the status of a Service that is no longer served (its address lies outside the pools)", TimeSpan.FromSeconds(40));
            await TestContext.Out.WriteLineAsync($"status cleared by the survivor {killed.Elapsed.TotalSeconds:0.0} s after the leader was killed");
            Assert.That(killed.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(10)), "nobody writes while the dead leader's lease may still be valid");
            var lease = server.Store.All(Resources.Leases).Single(l => l.Metadata.Name == "portable-lb").Spec;
            Assert.That((lease.HolderIdentity, lease.LeaseTransitions), Is.EqualTo((leader == "lb-a" ? "lb-b" : "lb-a", 1)));
        }
        catch (AssertionException)
        {
            lock (output) TestContext.Out.WriteLine(string.Join("\n", output.TakeLast(60)));
            throw;
        }
        finally
        {
            foreach (var controller in controllers.Values)
            {
                if (!controller.HasExited) controller.Kill(entireProcessTree: true);
                controller.Dispose();
            }
            Directory.Delete(folder, recursive: true);
        }
    }
}
