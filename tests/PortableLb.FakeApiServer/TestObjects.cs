using PortableLb.Kubernetes.Models;

namespace PortableLb.Testing.FakeApi;

/// <summary>Typed objects the way tests and benchmarks need them: a served Service, a slice of N ready endpoints.</summary>
public static class TestObjects
{
    public static Service Service(string name, string ns = "default", string address = "192.0.2.10", IReadOnlyDictionary<string, string>? labels = null) => new()
    {
        Metadata = new ObjectMeta { Name = name, Namespace = ns, Labels = labels, Annotations = new Dictionary<string, string> { ["portable-lb.io/addresses"] = address } },
        Spec = new ServiceSpec { Type = "LoadBalancer", LoadBalancerClass = "portable-lb.io/ipvs", Ports = [new ServicePort { Name = "http", Port = 80 }] },
    };

    public static EndpointSlice Slice(string name, string service, int endpoints, string ns = "default", int firstHost = 1) => new()
    {
        Metadata = new ObjectMeta { Name = name, Namespace = ns, Labels = new Dictionary<string, string> { [EndpointSlice.ServiceNameLabel] = service } },
        AddressType = "IPv4",
        Ports = [new EndpointPort { Name = "http", Port = 8080 }],
        Endpoints = Enumerable.Range(firstHost, endpoints)
            .Select(i => new Endpoint { Addresses = [$"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}"], Conditions = new EndpointConditions { Ready = true } })
            .ToList(),
    };
}
