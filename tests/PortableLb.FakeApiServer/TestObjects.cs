using PortableLb.Kubernetes;
using k8s.Models;

namespace PortableLb.Testing.FakeApi;

/// <summary>Typed objects the way tests and benchmarks need them: a served Service, a slice of N ready endpoints.</summary>
public static class TestObjects
{
    public static V1Service Service(string name, string ns = "default", string address = "192.0.2.10", IDictionary<string, string>? labels = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = labels, Annotations = new Dictionary<string, string> { ["portable-lb.io/addresses"] = address } },
        Spec = new V1ServiceSpec { Type = "LoadBalancer", LoadBalancerClass = "portable-lb.io/ipvs", Ports = [new V1ServicePort { Name = "http", Port = 80 }] },
    };

    public static V1EndpointSlice Slice(string name, string service, int endpoints, string ns = "default", int firstHost = 1) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = new Dictionary<string, string> { [KubernetesModels.ServiceNameLabel] = service } },
        AddressType = "IPv4",
        Ports = [new Discoveryv1EndpointPort { Name = "http", Port = 8080 }],
        Endpoints = Enumerable.Range(firstHost, endpoints)
            .Select(i => new V1Endpoint { Addresses = [$"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}"], Conditions = new V1EndpointConditions { Ready = true } })
            .ToList(),
    };
}
