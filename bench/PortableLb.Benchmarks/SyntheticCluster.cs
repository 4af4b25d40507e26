using System.Text;

namespace PortableLb.Benchmarks;

/// <summary>
/// A cluster of the size a benchmark asks for: 10 LoadBalancer Services sharing the endpoints evenly, in slices of
/// 100 as the EndpointSlice controller cuts them, with one endpoint in ten terminating.
/// </summary>
public static class SyntheticCluster
{
    public const int Services = 10;

    public static string Manifests(int endpoints, int generation = 0, bool changeEveryService = false)
    {
        var text = new StringBuilder();
        var perService = endpoints / Services;
        for (var s = 0; s < Services; s++)
        {
            text.Append($$"""
                apiVersion: v1
                kind: Service
                metadata: {name: svc-{{s}}, namespace: bench}
                spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 198.18.0.{{s + 1}}, ports: [{name: http, port: 80}]}
                ---

                """);
            for (var first = 0; first < perService; first += 100)
            {
                text.Append($$"""
                    apiVersion: discovery.k8s.io/v1
                    kind: EndpointSlice
                    metadata: {name: svc-{{s}}-{{first / 100}}, namespace: bench, labels: {kubernetes.io/service-name: svc-{{s}} } }
                    addressType: IPv4
                    ports: [{name: http, port: 8080}]
                    endpoints:

                    """);
                for (var e = first; e < Math.Min(first + 100, perService); e++)
                {
                    // A generation moves the first endpoint of svc-0 (or of every Service): one pod replaced, as in churn.
                    var moved = e == 0 && (s == 0 || changeEveryService);
                    var host = (e + (moved ? generation * perService : 0)) % 65_000;
                    var terminating = e % 10 == 9;
                    text.Append($"  - addresses: [10.{s + 1}.{host / 250}.{host % 250 + 1}]\n");
                    text.Append(terminating
                        ? "    conditions: {ready: false, serving: true, terminating: true}\n"
                        : "    conditions: {ready: true, serving: true, terminating: false}\n");
                }
                text.Append("---\n");
            }
        }
        return text.ToString();
    }

    public const string Tuning = """
        virtualServer: {scheduler: lc, upperThreshold: 20000}
        bgp: {peers: [198.18.255.254]}
        """;
}
