using System.Net;
using PortableLb.Model;
using PortableLb.Sources;
using PortableLb.Tuning;

namespace PortableLb.Tests.Model;

/// <summary>Small builders for test inputs, written as the manifests users write.</summary>
internal static class Cluster
{
    public static ClusterSnapshot FromYaml(string yaml)
    {
        var set = ManifestReader.ReadText(yaml, "test");
        Assert.That(set.Errors, Is.Empty, "the test's own manifests should parse");
        return set.Snapshot;
    }

    public static string Service(string name, string address = "192.0.2.10", string ports = "[{name: http, port: 80}]", string extraSpec = "", string ns = "default", string? annotation = null, string created = "2026-01-01T00:00:00Z", string? uid = null) => $$"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {{name}}
          namespace: {{ns}}
          creationTimestamp: "{{created}}"
          uid: "{{uid ?? name}}"
          annotations: {"portable-lb.io/addresses": "{{annotation ?? address}}"}
        spec:
          type: LoadBalancer
          loadBalancerClass: portable-lb.io/ipvs
          ports: {{ports}}
        {{extraSpec}}
        ---

        """;

    public static string Slice(string service, string endpoints, string ports = "[{name: http, port: 8080}]", string addressType = "IPv4", string? name = null, string ns = "default") => $$"""
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: {{name ?? service + "-" + Guid.NewGuid().ToString("N")[..5]}}
          namespace: {{ns}}
          labels: {kubernetes.io/service-name: {{service}}}
        addressType: {{addressType}}
        ports: {{ports}}
        endpoints: {{endpoints}}
        ---

        """;

    public static TuningSettings Tune(string yaml)
    {
        var parsed = TuningParser.Parse(yaml, "test");
        Assert.That(parsed.Errors, Is.Empty);
        return parsed.Tuning!;
    }

    public static TuningSettings WithPeer { get; } = Tune("bgp: {peers: [192.0.2.254]}");

    public static NodeAddresses Node { get; } = new(IPAddress.Parse("192.0.2.1"), IPAddress.Parse("2001:db8::1"), IPAddress.Parse("10.244.0.10"), IPAddress.Parse("fd00::10"));

    public static BuildResult Build(string yaml, TuningSettings? tuning = null, NodeAddresses? node = null, IReadOnlyCollection<ServiceName>? only = null) =>
        DesiredStateBuilder.Build(FromYaml(yaml), tuning ?? WithPeer, node ?? Node, only);
}
