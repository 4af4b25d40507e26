using FsCheck;
using FsCheck.Fluent;
using PortableLb.Cli;
using PortableLb.Common;
using PortableLb.Validation;

namespace PortableLb.IntegrationTests.Hostile;

/// <summary>
/// Random Services, EndpointSlices and tuning, valid and not, mixed: whenever `render` writes (exit 0 or 1), what it
/// wrote must pass the real daemons' own checks. Render runs with --no-validate here, so its translation alone is
/// under test, not its safety net.
/// </summary>
[CancelAfter(300_000)]
public sealed class RenderPropertyTests
{
    /// <summary>One generated input: a manifest file and a config.yaml.</summary>
    public sealed record Input(string Objects, string Tuning)
    {
        public override string ToString() => $"--- objects\n{Objects}\n--- tuning\n{Tuning}";
    }

    private static readonly string[] ServiceAddresses =
        ["192.0.2.10", "192.0.2.11", "198.51.100.0/28", "2001:db8::10", "10.0.0.5", "127.0.0.1", "0.0.0.0", "garbage", "192.0.2.10/33", "192.0.2.10,2001:db8::10", "224.0.0.1"];
    private static readonly string[] EndpointAddresses = ["10.244.1.1", "10.244.1.2", "10.244.2.7", "fd00::1", "0.0.0.0", "x", "192.0.2.10", "224.0.0.9"];
    private static readonly string[] Protocols = ["TCP", "UDP", "SCTP", "ICMP"];
    private static readonly int[] Ports = [80, 443, 8080, 53, 0, 65536, -1];

    private static Gen<string> Service(int index) =>
        from name in Gen.Elements("web", "api", "shop", "a", "b")
        from address in Gen.Elements(ServiceAddresses)
        from portCount in Gen.Choose(1, 3)
        from ports in Gen.ListOf(from port in Gen.Elements(Ports) from protocol in Gen.Elements(Protocols) select (port, protocol), portCount)
        from affinity in Gen.Elements("None", "ClientIP", "Sticky")
        from endpoints in Gen.ListOf(from a in Gen.Elements(EndpointAddresses) from ready in Gen.Elements("true", "false") select $"{{addresses: [\"{a}\"], conditions: {{ready: {ready}}}}}", 3)
        from family in Gen.Elements("IPv4", "IPv6")
        select $$$"""
            apiVersion: v1
            kind: Service
            metadata: {name: {{{name}}}{{{index}}}, namespace: default, annotations: {portable-lb.io/addresses: "{{{address}}}"}}
            spec:
              type: LoadBalancer
              loadBalancerClass: portable-lb.io/ipvs
              sessionAffinity: {{{affinity}}}
              ports: [{{{string.Join(", ", ports.Select((p, i) => $"{{name: p{i}, port: {p.port}, protocol: {p.protocol}}}"))}}}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: {{{name}}}{{{index}}}-1, namespace: default, labels: {kubernetes.io/service-name: {{{name}}}{{{index}}}}}
            addressType: {{{family}}}
            ports: [{{{string.Join(", ", ports.Select((p, i) => $"{{name: p{i}, port: {p.port + 8000}, protocol: {p.protocol}}}"))}}}]
            endpoints: [{{{string.Join(", ", endpoints)}}}]
            ---

            """;

    /// <summary>Mostly a valid value, sometimes not: with eleven fields, about 70% of the tunings are whole.</summary>
    private static Gen<T> Mostly<T>(T[] valid, params T[] invalid) => Gen.Frequency((30, Gen.Elements(valid)), (1, Gen.Elements(invalid)));

    private static readonly Gen<string> Tuning =
        from scheduler in Mostly(["rr", "wrr", "lc", "sh", "mh"], "bogus")
        from forwarding in Mostly(["nat", "dr", "tun"], "x")
        from delayLoop in Mostly([1, 6, 30], 0, 86_401)
        from check in Mostly(["none", "tcp", "http", "https"], "ping")
        from path in Mostly(["/", "/healthz", "/" + new string('p', 511), "/ok?x=1&y=%20"], "/a b", "/" + new string('p', 512))
        from status in Mostly([200, 204], 99, 600)
        from weight in Mostly([1, 100, 65_535], 0, 70_000)
        from peers in Mostly(["[]", "[10.0.0.5]", "[10.0.0.5, \"2001:db8::5\"]"], "[bad]")
        from hold in Mostly([0, 3, 90], 1)
        from nextHop in Mostly(["node", "pod", "192.0.2.254", "2001:db8::1"], "0.0.0.0")
        from communities in Mostly(["[]", "[\"65000:1\", no-export]"], "[\"x:y\"]")
        select $"virtualServer: {{scheduler: {scheduler}, forwarding: {forwarding}, delayLoop: {delayLoop}, weight: {weight}, "
            + $"healthCheck: {{type: {check}, path: \"{path}\", statusCode: {status}}}}}\n"
            + $"bgp: {{peers: {peers}, holdTime: {hold}, nextHop: \"{nextHop}\", communities: {communities}}}\n";

    private static readonly Gen<Input> Inputs =
        from count in Gen.Choose(1, 4)
        from services in Gen.CollectToList(Enumerable.Range(0, count).Select(Service))
        from tuning in Tuning
        select new Input(string.Concat(services), tuning);

    private const int Tries = 60;

    [Test]
    public void Whatever_render_writes_passes_keepalived_and_exabgp_checks()
    {
        Daemons.Require("keepalived", "exabgp");
        var runner = new ProcessRunner();
        var (keepalived, exabgp) = (new KeepalivedValidator(runner), new ExabgpValidator(runner));
        var outcomes = new Dictionary<int, int>();
        var property = Prop.ForAll(Arb.From(Inputs), input =>
        {
            var root = Directory.CreateTempSubdirectory("portable-lb-property-").FullName;
            try
            {
                File.WriteAllText(Path.Combine(root, "objects.yaml"), input.Objects);
                File.WriteAllText(Path.Combine(root, "tuning.yaml"), input.Tuning);
                var output = Path.Combine(root, "out");
                var (stdout, stderr) = (new StringWriter(), new StringWriter());
                var exit = Program.RunAsync(["render", "--no-validate", "--objects", Path.Combine(root, "objects.yaml"), "--tuning", Path.Combine(root, "tuning.yaml"),
                    "--out", output, "--node-ip", "192.0.2.1", "--node-ip", "2001:db8::1", "--pod-ip", "10.244.0.10", "--pod-ip", "fd00::10"], stdout, stderr).GetAwaiter().GetResult();
                outcomes[exit] = outcomes.GetValueOrDefault(exit) + 1;
                if (exit == ExitCodes.Fatal) return true;
                var ipvs = keepalived.ValidateAsync(File.ReadAllText(Path.Combine(output, "ipvs.conf")), CancellationToken.None).GetAwaiter().GetResult();
                if (!ipvs.IsValid) throw new AssertionException($"keepalived -t rejected the output of exit {exit}: {ipvs.Output}\n{stderr}");
                var exabgpConf = File.ReadAllText(Path.Combine(output, "exabgp.conf"));
                if (!exabgpConf.Contains("neighbor", StringComparison.Ordinal)) return true; // BGP off: a comment exabgp is never given
                var bgp = exabgp.ValidateAsync(exabgpConf, CancellationToken.None).GetAwaiter().GetResult();
                if (!bgp.IsValid) throw new AssertionException($"exabgp --test rejected the output of exit {exit}: {bgp.Output}\n{stderr}");
                return true;
            }
            finally
            {
                Directory.Delete(root, recursive: true);
            }
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Tries), property);
        TestContext.Out.WriteLine($"render exit codes over {Tries} inputs: {string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key}: {o.Value}"))}");
        Assert.That(outcomes.Keys.Where(k => k != ExitCodes.Fatal), Is.Not.Empty, "some inputs must get past the tuning, or the property says nothing");
    }
}
