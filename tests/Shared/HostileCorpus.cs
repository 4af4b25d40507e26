namespace PortableLb.Tests;

/// <summary>
/// One hostile input and what must come of it, for a pod with --node-ip 192.0.2.1 and --pod-ip 10.244.0.10. `Objects` is a manifest file (beside a harmless Service, "honest",
/// which must always be served); `Tuning` is config.yaml. `RenderExit` is render's exit code (1: objects rejected,
/// the rest written; 2: fatal, nothing written); `Message` is a piece of the error or warning that must be reported,
/// naming the object and field or the file and limit; `Served` and `NotServed` are virtual-server addresses.
/// </summary>
public sealed record HostileCase(string Name, string Objects, int RenderExit, string Message, string[] Served, string[] NotServed)
{
    public string Tuning { get; init; } = "bgp: {peers: [10.0.0.5]}\n";
    public string[] ExtraArguments { get; init; } = [];

    /// <summary>A piece exabgp.conf must hold when this case renders.</summary>
    public string? ExabgpContains { get; init; }

    public override string ToString() => Name;
}

/// <summary>
/// The hostile-input corpus (issue 14), run against `render` and against `run --objects`. The attacks that need a
/// live process or a kernel (FIFOs, pid files, lost API access, data-plane routes, partial writes) have their own
/// tests, named in the README's "Security and limits".
/// </summary>
public static class HostileCorpus
{
    public const string HonestVip = "192.0.2.70";

    private const string Honest = $$$"""
        apiVersion: v1
        kind: Service
        metadata: {name: honest, namespace: default, creationTimestamp: "2026-01-01T00:00:00Z", uid: honest}
        spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: {{{HonestVip}}}, ports: [{port: 80}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: honest-1, namespace: default, labels: {kubernetes.io/service-name: honest}}
        addressType: IPv4
        ports: [{port: 8080}]
        endpoints: [{addresses: [10.244.1.1]}]
        ---

        """;

    /// <summary>The classic 581-byte "billion laughs": nine levels of nine aliases, 10^9 nodes when expanded.</summary>
    public static string BillionLaughs()
    {
        var lines = new List<string> { "apiVersion: v1", "kind: ConfigMap", "metadata: {name: lol}", "data:", "  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]" };
        for (var level = 'b'; level <= 'i'; level++)
        {
            lines.Add($"  {level}: &{level} [{string.Join(",", Enumerable.Repeat($"*{(char)(level - 1)}", 9))}]");
        }
        return string.Join("\n", lines) + "\n";
    }

    private static string Service(string name, string addresses, string ports = "[{port: 80}]", string created = "2026-02-01T00:00:00Z") => $$$"""
        apiVersion: v1
        kind: Service
        metadata: {name: {{{name}}}, namespace: default, creationTimestamp: "{{{created}}}", uid: {{{name}}}, annotations: {portable-lb.io/addresses: "{{{addresses}}}"}}
        spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, ports: {{{ports}}}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: {{{name}}}-1, namespace: default, labels: {kubernetes.io/service-name: {{{name}}}}}
        addressType: IPv4
        ports: [{port: 8080}]
        endpoints: [{addresses: [10.244.2.1]}]
        ---

        """;

    private static string Addresses(int count) => string.Join(",", Enumerable.Range(0, count).Select(i => $"198.18.{i / 250}.{i % 250 + 1}"));

    public static IReadOnlyList<HostileCase> Cases { get; } =
    [
        new("self-referencing alias", Honest + "metadata: &m {name: x, labels: *m}\n", 1, "refers to a node that contains it", [HonestVip], []),
        new("an anchor given again, referred to from inside", Honest + "a: &x 1\nb: &x [*x]\n", 1, "refers to a node that contains it", [HonestVip], []),
        new("billion laughs", Honest + BillionLaughs(), 1, "expands to more than 2,000,000 nodes", [HonestVip], []),
        new("200,000 open brackets", Honest + new string('[', 200_000) + "\n", 1, "nests deeper than 64 levels", [HonestVip], []),
        new("JSON 5,000 levels deep", Honest + string.Concat(Enumerable.Repeat("{\"a\":", 5_000)) + "1" + new string('}', 5_000) + "\n", 1, "nests deeper than 64 levels", [HonestVip], []),
        new("Windows line ends", (Honest + Service("second", "198.51.100.20")).ReplaceLineEndings("\r\n"), 0, "2 Services served", [HonestVip, "198.51.100.20"], []),
        new("a prefix over the BGP peer", Honest + Service("greedy", "10.0.0.0/16"), 1, "Service default/greedy: metadata.annotations[\"portable-lb.io/addresses\"]: 10.0.0.0/16 overlaps the BGP peer (bgp.peers), 10.0.0.5", [HonestVip], ["fwmark"]),
        new("loopback and the pod's own address", Honest + Service("inward", "127.0.0.1,10.244.0.10"), 1, "10.244.0.10 overlaps this pod's address (--pod-ip), 10.244.0.10", [HonestVip], ["127.0.0.1", "10.244.0.10"]),
        new("a newer Service named to sort first", Honest + Service("a-evil", HonestVip), 1, $"Service default/a-evil: spec.ports: {HonestVip} TCP/80 overlaps {HonestVip}, already served for Service default/honest", [HonestVip], []),
        new("1,000 addresses × 100 ports", Honest + Service("amplifier", Addresses(1_000), "[" + string.Join(", ", Enumerable.Range(1, 100).Select(p => $"{{name: p{p}, port: {p}}}")) + "]"), 1, "lists 1000 addresses; a Service may have at most 64", [HonestVip], ["198.18.0.1"]),
        new("20,000 addresses", Honest + Service("wide", Addresses(20_000)), 1, "lists 20000 addresses; a Service may have at most 64", [HonestVip], ["198.18.0.1"]),
        new("64 addresses × 17 ports", Honest + Service("wide-ports", Addresses(64), "[" + string.Join(", ", Enumerable.Range(1, 17).Select(p => $"{{name: p{p}, port: {p}}}")) + "]"), 1, "64 addresses × 17 ports make 1088 virtual servers", [HonestVip], ["198.18.0.1"]),
        new("an EndpointSlice of discovery.k8s.io/v1beta1", Honest + "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: old, namespace: default}\n", 0, "EndpointSlice default/old: apiVersion discovery.k8s.io/v1beta1 is not read", [HonestVip], []),
        new("a Service of an unknown apiVersion", Honest + "apiVersion: v2\nkind: Service\nmetadata: {name: future, namespace: default}\n", 0, "Service default/future: apiVersion v2 is not read", [HonestVip], []),
        new("endpoints at 0.0.0.0, multicast and the VIP", Honest + Service("odd-endpoints", "198.51.100.30").Replace("[{addresses: [10.244.2.1]}]", "[{addresses: [10.244.2.1]}, {addresses: [0.0.0.0]}, {addresses: [224.0.0.9]}, {addresses: [198.51.100.30]}]"), 1, "EndpointSlice default/odd-endpoints-1: endpoints[1].addresses[0]: 0.0.0.0 is in \"this network\"", [HonestVip, "198.51.100.30"], ["real_server 0.0.0.0", "real_server 224.0.0.9", "real_server 198.51.100.30"]),
        new("a duplicate key and a wrong type", Honest + "apiVersion: v1\nkind: Service\nmetadata: {name: dup, name: again}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: typed, namespace: default}\nspec: {ports: {port: 80}}\n", 1, "document ", [HonestVip], []),
        new("a newline and config text in an address", Honest + Service("injected", "192.0.2.66 80 {\\n  real_server 1.1.1.1 80 {\\n    MISC_CHECK {\\n      misc_path \\\"/bin/sh\\\" }}}"), 1, "is not an IPv4 or IPv6 address or prefix", [HonestVip], ["1.1.1.1", "MISC_CHECK"]),
        new("next-hop 0.0.0.0", Honest, 2, "bgp.nextHop: 0.0.0.0 is in \"this network\"", [], []) { Tuning = "bgp: {peers: [10.0.0.5], nextHop: 0.0.0.0}\n" },
        new("router-id 0.0.0.0", Honest, 2, "bgp.routerId: 0.0.0.0 is not a valid BGP identifier", [], []) { Tuning = "bgp: {peers: [10.0.0.5], routerId: 0.0.0.0}\n" },
        new("a health-check path of 600 characters", Honest, 2, "virtualServer.healthCheck.path: is 601 characters long; at most 512", [], []) { Tuning = $"virtualServer: {{healthCheck: {{type: http, path: /{new string('a', 600)}}}}}\n" },
        new("a tuning alias bomb", Honest, 2, "refers to a node that contains it", [], []) { Tuning = "virtualServer: &v {healthCheck: *v}\n" },
        new("the BGP password from a Secret in the manifests", Honest + "apiVersion: v1\nkind: Secret\nmetadata: {name: bgp-password, namespace: default}\nstringData: {password: s3cret-pass}\n", 0, "1 Services served", [HonestVip], [])
        {
            ExtraArguments = ["--bgp-password-secret", "bgp-password"],
            ExabgpContains = "md5-password",
        },
    ];
}
