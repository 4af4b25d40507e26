using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s.Models;
using PortableLb.Kubernetes;
using PortableLb.Model;
using PortableLb.Sources;
using PortableLb.Testing.FakeApi;
using PortableLb.Tuning;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>
/// Three `portable-lb run` processes (three LB pods) against the fake API server while 1,000 random operations hit
/// 50 Services: create, delete, change the pool, set or drop an address of their own, share or not, scale the
/// endpoints. The leader is killed twice (no release) and comes back, as a Deployment's pod would. Every state the
/// fake API ever holds is checked as it is committed: no address is shown by two Services without a common share
/// key, and an allocated address never moves while its Service keeps its pool. At the end the statuses are a fixed
/// point of the planner (nothing left to write) and nobody writes any more.
/// </summary>
[CancelAfter(300_000)]
public sealed class StatusUnderChurnTests
{
    private const int Services = 50, Operations = 1_000;
    private const string Tuning = """
        pools:
          - {name: a, addresses: ["192.0.2.0/27"]}
          - {name: b, addresses: ["198.51.100.0-198.51.100.15"], autoAssign: false}
        """;

    private static readonly string[] Pods = ["lb-a", "lb-b", "lb-c"];

    private readonly Lock _violationsLock = new();
    private readonly List<string> _violations = [];

    // Per Service: the address its pool gave it, while it keeps that pool and names no address itself.
    private readonly Dictionary<string, (string Pool, string Address)> _allocated = [];

    // Every committed Service state that changed what it shows, for the report of a violation.
    private readonly List<string> _history = [];
    private readonly Dictionary<string, string> _lastShown = [];

    [Test]
    public async Task Three_controllers_keep_every_address_on_one_Service_through_1000_random_operations_and_two_leader_kills()
    {
        Daemons.Require("keepalived");
        var folder = Directory.CreateTempSubdirectory("portable-lb-churn-").FullName;
        await using var server = await FakeApiServer.StartAsync();
        server.Store.Committed = (resource, objects) => { if (resource == "/services") Check(objects); };
        var output = new List<string>();
        var controllers = new Dictionary<string, Process>();
        var random = new Random(20261202);
        var clock = DateTime.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime();
        try
        {
            server.Store.Apply(Resources.ConfigMaps, new V1ConfigMap
            {
                Metadata = new V1ObjectMeta { Name = "portable-lb-config", NamespaceProperty = "default" },
                Data = new Dictionary<string, string> { ["config.yaml"] = Tuning },
            });
            var kubeconfig = await ApiControllers.KubeconfigAsync(server, folder);
            foreach (var pod in Pods) controllers[pod] = ApiControllers.Start(folder, kubeconfig, pod, output);
            await Eventually.True(() => Holder(server) is not null, "a leader", TimeSpan.FromSeconds(30));

            var takeovers = new List<double>();
            for (var op = 0; op < Operations; op++)
            {
                if (op is 300 or 650) takeovers.Add(await KillLeaderAsync(server, controllers, folder, kubeconfig, output));
                var name = $"s{random.Next(Services):00}";
                var service = server.Store.All(Resources.Services).SingleOrDefault(s => s.Metadata.Name == name);
                // A Service is created only when absent: a user's replace that drops a share key from one of two
                // sharers would make the double-show itself, before any controller could act.
                switch (service is null ? 0 : 1 + random.Next(4))
                {
                    case 0:
                        clock = clock.AddSeconds(1);
                        server.Store.Update(Resources.Services, NewService(name, random, clock));
                        server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice($"{name}-1", name, 1 + random.Next(3), firstHost: 10));
                        break;
                    case 1:
                        server.Store.Delete(Resources.Services, "default", name);
                        server.Store.Delete(Resources.EndpointSlices, "default", $"{name}-1");
                        break;
                    case 2:
                        Annotate(service!, ServiceAddresses.PoolAnnotation, random.Next(3) switch { 0 => null, 1 => "a", _ => "b" });
                        server.Store.Update(Resources.Services, service!);
                        break;
                    case 3:
                        Annotate(service!, ServiceAddresses.Annotation, random.Next(4) == 0 ? $"192.0.2.{random.Next(32)}" : null);
                        server.Store.Update(Resources.Services, service!);
                        break;
                    default:
                        server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice($"{name}-1", name, 1 + random.Next(3), firstHost: 10));
                        break;
                }
                await Task.Delay(random.Next(5, 25));
            }

            // Settled: no status write for 5 s, and the statuses are what the planner would leave as they are.
            var settled = Stopwatch.StartNew();
            int writes;
            do
            {
                writes = StatusWrites(server);
                await Task.Delay(5_000);
                if (settled.Elapsed > TimeSpan.FromSeconds(90)) Assert.Fail("status writes did not stop within 90 s of the last operation");
            }
            while (StatusWrites(server) != writes);

            var tuning = TuningParser.Parse(Tuning, "test").Tuning!;
            var snapshot = new ClusterSnapshot(server.Store.All(Resources.Services), server.Store.All(Resources.EndpointSlices));
            var build = DesiredStateBuilder.Build(snapshot, tuning, NodeAddresses.None);
            var left = ServiceStatusPlanner.Plan(snapshot, build, tuning, NodeAddresses.None, only: null).Changes;
            var shown = snapshot.Services.Count(s => s.Status?.LoadBalancer?.Ingress is { Count: > 0 });
            await TestContext.Out.WriteLineAsync(
                $"{Operations} operations; {snapshot.Services.Count} Services at the end, {shown} with an address; {StatusWrites(server)} status writes; " +
                $"takeovers after the leader's kill: {string.Join(", ", takeovers.Select(t => $"{t:0.0} s"))}; settled {settled.Elapsed.TotalSeconds:0} s after the last operation");
            lock (_violationsLock) Assert.That(_violations, Is.Empty);
            Assert.That(left.Select(c => c.Service.ToString()), Is.Empty, "every status is what the planner expects");
            Assert.That(shown, Is.GreaterThan(10));
            // client-go's timings: a survivor takes over once the Lease has stood still for 15 s, plus a retry or two.
            Assert.That(takeovers, Is.All.LessThan(15 + 2 * 2 * 2.2 + 2));
        }
        catch (AssertionException)
        {
            string tail;
            lock (output) tail = string.Join("\n", output.Where(l => !l.Contains("keepalived:", StringComparison.Ordinal)).TakeLast(60));
            await TestContext.Out.WriteLineAsync(tail);
            throw;
        }
        finally
        {
            server.Store.Committed = null;
            foreach (var controller in controllers.Values)
            {
                if (!controller.HasExited) controller.Kill(entireProcessTree: true);
                controller.Dispose();
            }
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string? Holder(FakeApiServer server) =>
        server.Store.All(Resources.Leases).SingleOrDefault(l => l.Metadata.Name == "portable-lb")?.Spec?.HolderIdentity is { Length: > 0 } holder ? holder : null;

    private static int StatusWrites(FakeApiServer server) => server.Requests.Count(r => r.Request.StartsWith("PATCH ", StringComparison.Ordinal) && r.Request.Contains("/status", StringComparison.Ordinal));

    /// <summary>Kills the leader without a word, waits for another to hold the Lease, then starts the pod again. Returns the takeover's seconds.</summary>
    private static async Task<double> KillLeaderAsync(FakeApiServer server, Dictionary<string, Process> controllers, string folder, string kubeconfig, List<string> output)
    {
        var leader = Holder(server)!;
        controllers[leader].Kill(entireProcessTree: true);
        await controllers[leader].WaitForExitAsync();
        controllers[leader].Dispose();
        var killed = Stopwatch.StartNew();
        await Eventually.True(() => Holder(server) is { } holder && holder != leader, "another LB pod to take the Lease over", TimeSpan.FromSeconds(40));
        var took = killed.Elapsed.TotalSeconds;
        Directory.Delete(Path.Combine(folder, leader), recursive: true);
        controllers[leader] = ApiControllers.Start(folder, kubeconfig, leader, output);
        return took;
    }

    private static V1Service NewService(string name, Random random, DateTime created)
    {
        var service = TestObjects.Service(name);
        service.Metadata.Annotations.Clear();
        service.Metadata.CreationTimestamp = created;
        service.Metadata.Uid = $"{name}-{created.Ticks}";
        service.Spec.Ports = [new V1ServicePort { Name = "http", Port = random.Next(2) == 0 ? 80 : 443 }];
        if (random.Next(3) == 0) service.Metadata.Annotations[AddressAllocator.ShareAnnotation] = "front";
        if (random.Next(4) == 0) service.Metadata.Annotations[ServiceAddresses.PoolAnnotation] = "b";
        if (random.Next(6) == 0) service.Metadata.Annotations[ServiceAddresses.Annotation] = $"192.0.2.{random.Next(32)}";
        return service;
    }

    private static void Annotate(V1Service service, string key, string? value)
    {
        if (value is null) service.Metadata.Annotations.Remove(key);
        else service.Metadata.Annotations[key] = value;
    }

    private static bool InPool(string pool, string ip)
    {
        var octets = ip.Split('.');
        if (octets.Length != 4) return false;
        var last = int.Parse(octets[3], System.Globalization.CultureInfo.InvariantCulture);
        return pool == "a" ? ip.StartsWith("192.0.2.", StringComparison.Ordinal) && last < 32 : ip.StartsWith("198.51.100.", StringComparison.Ordinal) && last < 16;
    }

    /// <summary>Runs under the store's lock on every committed change of a Service.</summary>
    private void Check(IReadOnlyCollection<JsonObject> objects)
    {
        var services = objects.Select(o => o.Deserialize(KubernetesJsonContext.Default.V1Service)!).ToList();
        var holders = services
            .SelectMany(s => (s.Status?.LoadBalancer?.Ingress ?? []).Select(i => (Ip: i.Ip, Service: s)))
            .GroupBy(h => h.Ip);
        lock (_violationsLock)
        {
            foreach (var group in holders.Where(g => g.Count() > 1))
            {
                var keys = group.Select(h => h.Service.Metadata.Annotations.ValueOf(AddressAllocator.ShareAnnotation)).ToList();
                if ((keys.Any(k => k is null) || keys.Distinct().Count() > 1) && _violations.Count < 5)
                {
                    var names = group.Select(h => h.Service.Metadata.Name).ToList();
                    _violations.Add($"{group.Key} shown by {string.Join(", ", names)} without one share key; their history:\n  "
                        + string.Join("\n  ", _history.Where(h => names.Any(n => h.Contains($" {n} ", StringComparison.Ordinal))).TakeLast(12)));
                }
            }
            foreach (var service in services)
            {
                var state = $"shows [{string.Join(",", (service.Status?.LoadBalancer?.Ingress ?? []).Select(i => i.Ip))}] with {string.Join(" ", (service.Metadata.Annotations ?? new Dictionary<string, string>()).Select(a => $"{a.Key}={a.Value}"))} created {service.Metadata.CreationTimestamp:HH:mm:ss}";
                if (_lastShown.GetValueOrDefault(service.Metadata.Name) != state)
                {
                    _lastShown[service.Metadata.Name] = state;
                    _history.Add($"rv {service.Metadata.ResourceVersion}: {service.Metadata.Name} {state}");
                }
            }
            foreach (var service in services)
            {
                var name = service.Metadata.Name;
                var own = service.Metadata.Annotations?.ContainsKey(ServiceAddresses.Annotation) == true;
                var pool = service.Metadata.Annotations.ValueOf(ServiceAddresses.PoolAnnotation) ?? "a";
                var shown = service.Status?.LoadBalancer?.Ingress?.FirstOrDefault()?.Ip;
                // Tracked while the Service names no address, keeps its pool and shows an address of that pool.
                if (own || shown is null || !InPool(pool, shown) || (_allocated.TryGetValue(name, out var had) && had.Pool != pool))
                {
                    _allocated.Remove(name);
                    if (!own && shown is not null && InPool(pool, shown)) _allocated[name] = (pool, shown);
                    continue;
                }
                if (_allocated.TryGetValue(name, out var before) && before.Address != shown)
                {
                    _violations.Add($"{name} moved from {before.Address} to {shown} without a change of pool");
                }
                _allocated[name] = (pool, shown);
            }
            foreach (var gone in _allocated.Keys.Where(k => services.All(s => s.Metadata.Name != k)).ToList()) _allocated.Remove(gone);
        }
    }
}
