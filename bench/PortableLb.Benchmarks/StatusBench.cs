using System.Diagnostics;
using k8s.Models;
using PortableLb.Kubernetes;
using PortableLb.Testing.FakeApi;

namespace PortableLb.Benchmarks;

/// <summary>
/// Service status at scale (issue #17): two `portable-lb run` processes, as two LB pods of one Deployment, against the
/// fake API server holding `existing` Services that take their addresses from a pool. Measures the Lease requests per
/// minute while nothing changes, then creates `created` more Services one at a time and times each from its creation
/// to the leader's status PATCH arriving at the server (both on the server's clock).
/// </summary>
public static class StatusBench
{
    private const string Pool = "172.20.0.0/16";

    public static async Task<int> RunAsync(int existing, int created, TimeSpan rest)
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-status-bench-").FullName;
        var controllers = new List<Process>();
        var output = new List<string>();
        await using var server = await FakeApiServer.StartAsync();
        try
        {
            server.Store.Apply(Resources.ConfigMaps, new V1ConfigMap
            {
                Metadata = new V1ObjectMeta { Name = "portable-lb-config", NamespaceProperty = "default" },
                Data = new Dictionary<string, string> { ["config.yaml"] = $"pools: [{{name: bench, addresses: [\"{Pool}\"]}}]\n" },
            });
            for (var i = 0; i < existing; i++) AddService(server, $"old-{i}", i);
            var kubeconfig = Path.Combine(folder, "kubeconfig");
            await File.WriteAllTextAsync(kubeconfig, $$$"""
                apiVersion: v1
                kind: Config
                current-context: fake
                contexts: [{name: fake, context: {cluster: fake, user: me, namespace: default}}]
                clusters: [{name: fake, cluster: {server: "{{{server.Address}}}"}}]
                users: [{name: me, user: {token: test-token}}]
                """);
            foreach (var pod in new[] { "lb-a", "lb-b" })
            {
                var run = Directory.CreateDirectory(Path.Combine(folder, pod)).FullName;
                controllers.Add(ControllerCommand.Start(["--kubeconfig", kubeconfig, "--tuning-configmap", "default/portable-lb-config", "--config-dir", run,
                    "--listen", "127.0.0.1:0", "--pod-name", pod, "--keepalived-pidfile", Path.Combine(run, "keepalived.pid"),
                    "--exabgp-pidfile", Path.Combine(run, "exabgp.pid"), "--data-plane", "off", "--withdraw-grace", "0"], output: output));
            }
            var startup = Stopwatch.StartNew();
            await WaitAsync(() => server.Store.All(Resources.Services).All(s => s.Status?.LoadBalancer?.Ingress is { Count: > 0 }), TimeSpan.FromSeconds(existing < 100 ? 60 : 600),
                "every existing Service has its address", () => string.Join("\n", server.Requests.TakeLast(10).Select(r => r.Request)) + "\n" + Last(output));
            var allAssigned = startup.Elapsed;

            // At rest: only the election talks to the API server (the watches are idle streams).
            var restStart = DateTimeOffset.UtcNow;
            await Task.Delay(rest);
            var atRest = server.Requests.Where(r => r.At >= restStart).Select(r => r.Request).ToList();
            var leaseRequests = atRest.Count(r => r.Contains("/leases/", StringComparison.Ordinal));
            var perMinute = TimeSpan.FromMinutes(1) / rest;

            var latencies = new List<double>(created);
            for (var i = 0; i < created; i++)
            {
                var name = $"new-{i}";
                var createdAt = DateTimeOffset.UtcNow;
                AddService(server, name, existing + i);
                var patch = $"PATCH /api/v1/namespaces/default/services/{name}/status";
                var written = DateTimeOffset.MinValue;
                await WaitAsync(() => (written = server.Requests.LastOrDefault(r => r.Request.StartsWith(patch, StringComparison.Ordinal)).At) != default(DateTimeOffset),
                    TimeSpan.FromSeconds(60), $"{name}'s status");
                latencies.Add((written - createdAt).TotalMilliseconds);
                await Task.Delay(100);
            }
            foreach (var controller in controllers.Where(c => c.HasExited)) throw new InvalidOperationException($"a controller exited with {controller.ExitCode}");

            latencies.Sort();
            Console.WriteLine($"controllers: 2 × {ControllerCommand.Describe()}; pool {Pool}");
            Console.WriteLine("| measure | value |");
            Console.WriteLine("|---|---:|");
            Console.WriteLine($"| start of both controllers → all {existing:N0} Services assigned and written | {allAssigned.TotalSeconds:0.0} s |");
            Console.WriteLine($"| Lease requests per minute at rest, both pods ({rest.TotalSeconds:0} s measured) | {leaseRequests * perMinute:0} |");
            Console.WriteLine($"| all API requests per minute at rest | {atRest.Count * perMinute:0} |");
            Console.WriteLine($"| Service created → status written, median (of {created} beside {existing:N0}) | {Percentile.Of(latencies, 0.50):0.0} ms |");
            Console.WriteLine($"| Service created → status written, p99 | {Percentile.Of(latencies, 0.99):0.0} ms |");
            Console.WriteLine($"| Service created → status written, max | {latencies[^1]:0.0} ms |");
            return 0;
        }
        finally
        {
            foreach (var controller in controllers)
            {
                if (!controller.HasExited) controller.Kill(entireProcessTree: true);
                controller.Dispose();
            }
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Last(List<string> output)
    {
        lock (output) return string.Join("\n", output.TakeLast(30));
    }

    /// <summary>A Service that names no address, so the pool gives it one, with two ready endpoints.</summary>
    private static void AddService(FakeApiServer server, string name, int index)
    {
        var service = TestObjects.Service(name);
        service.Metadata.Annotations.Clear();
        server.Store.Apply(Resources.Services, service);
        server.Store.Apply(Resources.EndpointSlices, TestObjects.Slice($"{name}-1", name, 2, firstHost: index * 2 + 1));
    }

    private static async Task WaitAsync(Func<bool> condition, TimeSpan limit, string what, Func<string>? context = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit) throw new TimeoutException($"{limit.TotalSeconds:0} s without: {what}\n{context?.Invoke()}");
            await Task.Delay(20);
        }
    }
}
