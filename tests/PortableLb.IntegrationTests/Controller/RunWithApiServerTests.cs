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
            var kubeconfig = Path.Combine(folder, "kubeconfig");
            await File.WriteAllTextAsync(kubeconfig, $"""
                apiVersion: v1
                kind: Config
                current-context: fake
                contexts: [{"{"}name: fake, context: {"{"}cluster: fake, user: me, namespace: default{"}"}{"}"}]
                clusters: [{"{"}name: fake, cluster: {"{"}server: "{server.Address}"{"}"}{"}"}]
                users: [{"{"}name: me, user: {"{"}token: test-token{"}"}{"}"}]
                """);
            var run = Directory.CreateDirectory(Path.Combine(folder, "run")).FullName;
            controller = ControllerProcess.Start(
            [
                "--kubeconfig", kubeconfig, "--tuning-configmap", "default/portable-lb-config", "--config-dir", run, "--listen", "127.0.0.1:0",
                "--keepalived-pidfile", Path.Combine(run, "keepalived.pid"), "--exabgp-pidfile", Path.Combine(run, "exabgp.pid"),
                "--debounce", "20", "--data-plane", "off", "--withdraw-grace", "0",
            ], output);
            var ipvs = Path.Combine(run, "ipvs.conf");
            string Ipvs() => File.Exists(ipvs) ? File.ReadAllText(ipvs) : "";
            await Eventually.True(() => Ipvs().Contains("virtual_server 192.0.2.10 80") && Ipvs().Contains("lb_algo wrr"), "web rendered with the ConfigMap's tuning");

            server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice("web-1", "web", 3));
            await Eventually.True(() => Ipvs().Contains("real_server 10.0.0.3 8080"), "the scale-up from a watch event");

            await Eventually.True(() => server.Store.All(Resources.Events).Any(e => e.Regarding?.Name == "broken"), "an Event on the broken Service");
            var events = server.Store.All(Resources.Events).Where(e => e.Regarding?.Name == "broken").ToList();
            Assert.That(events.Single().Note, Does.Contain("\"192.0.2.300\" is not an IPv4 or IPv6 address"));
            Assert.That(events.Single().Reason, Is.EqualTo("InvalidService"));
            Assert.That(server.Store.All(Resources.Events).Where(e => e.Regarding?.Name == "web"), Is.Empty);
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
}
