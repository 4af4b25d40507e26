using System.Net;
using PortableLb.Common;
using PortableLb.Tuning;

namespace PortableLb.Tests.Tuning;

public sealed class TuningParserTests
{
    private static TuningSettings Valid(string yaml)
    {
        var result = TuningParser.Parse(yaml, "config.yaml");
        Assert.That(result.Errors, Is.Empty);
        return result.Tuning!;
    }

    private static List<string> Errors(string yaml) => TuningParser.Parse(yaml, "config.yaml").Errors.Select(e => $"{e.Path}: {e.Message}").ToList();

    [TestCase("")]
    [TestCase("{}")]
    [TestCase("# only a comment\n")]
    [TestCase("virtualServer:\nbgp:\nservices:\n")]
    public void An_empty_document_gives_the_defaults(string yaml) =>
        Assert.That(Valid(yaml), Is.EqualTo(TuningSettings.Default).Using<TuningSettings>((a, b) =>
            a.VirtualServer == b.VirtualServer && a.Bgp == b.Bgp && a.Services.Count == b.Services.Count));

    [Test]
    public void Every_key_of_the_schema_is_read()
    {
        var tuning = Valid("""
            virtualServer:
              scheduler: wrr
              forwarding: tun
              delayLoop: 7
              persistenceTimeout: 300
              upperThreshold: 20000
              weight: 3
              healthCheck:
                type: https
                connectTimeout: 4
                retry: 2
                delayBeforeRetry: 1
                port: 8443
                path: /healthz?full=1
                statusCode: 204
            bgp:
              localAs: 64512
              peerAs: 64513
              peers: ["10.0.0.109", "2001:db8::109"]
              holdTime: 30
              routerId: 172.16.20.2
              localAddress: 172.16.20.3
              nextHop: pod
              communities: ["65021:100", NO-EXPORT]
              announce: always
            services:
              default/web: {scheduler: rr, healthCheck: {type: http, path: /ready}}
            """);

        Assert.That(tuning.VirtualServer, Is.EqualTo(new VirtualServerSettings(Scheduler.Wrr, Forwarding.Tun, 7, 300, 20000, 3,
            new HealthCheckSettings(HealthCheckType.Https, 4, 2, 1, 8443, "/healthz?full=1", 204))));
        Assert.That(tuning.Bgp, Is.EqualTo(new BgpSettings(64512, 64513, ValueList.Of(IPAddress.Parse("10.0.0.109"), IPAddress.Parse("2001:db8::109")), 30,
            IPAddress.Parse("172.16.20.2"), IPAddress.Parse("172.16.20.3"), new NextHopChoice.Pod(), ValueList.Of("65021:100", "no-export"), AnnounceMode.Always)));
        Assert.That(tuning.For("default/web"), Is.EqualTo(tuning.VirtualServer with
        {
            Scheduler = Scheduler.Rr,
            HealthCheck = tuning.VirtualServer.HealthCheck with { Type = HealthCheckType.Http, Path = "/ready" },
        }), "an override changes only what it names; the rest comes from virtualServer");
        Assert.That(tuning.For("default/other"), Is.EqualTo(tuning.VirtualServer));
    }

    [Test]
    public void The_status_shows_VIP_unless_the_tuning_asks_for_Proxy()
    {
        Assert.That(Valid("bgp: {}").IpMode, Is.EqualTo(IngressMode.Vip));
        Assert.That(Valid("status: {ipMode: Proxy}").IpMode, Is.EqualTo(IngressMode.Proxy));
        Assert.That(Valid("status: {ipMode: VIP}").IpMode, Is.EqualTo(IngressMode.Vip));
        Assert.That(Errors("status: {ipMode: nat}"), Is.EqualTo(new[] { "status.ipMode: must be one of VIP, Proxy, got \"nat\"" }));
        Assert.That(Errors("status: {mode: Proxy}"), Is.EqualTo(new[] { "status.mode: unknown key; expected one of ipMode" }));
    }

    [Test]
    public void A_literal_next_hop_is_an_address()
    {
        Assert.That(Valid("bgp: {nextHop: 10.0.0.106}").Bgp.NextHop, Is.EqualTo(new NextHopChoice.Literal(IPAddress.Parse("10.0.0.106"))));
    }

    [Test]
    public void Unknown_keys_are_rejected_by_their_path()
    {
        Assert.That(Errors("virtualServer: {healthCheck: {misc_path: /bin/sh}}\nbgpp: {}"), Is.EquivalentTo(new[]
        {
            "bgpp: unknown key; expected one of mode, virtualServer, bgp, l2, services, status, pools",
            "virtualServer.healthCheck.misc_path: unknown key; expected one of type, connectTimeout, retry, delayBeforeRetry, port, path, statusCode",
        }));
    }

    [Test]
    public void Every_error_is_reported_not_only_the_first()
    {
        var errors = Errors("virtualServer: {scheduler: fastest, weight: -1, delayLoop: 0}\nbgp: {localAs: 0, holdTime: 1}");
        Assert.That(errors.Select(e => e.Split(':')[0]), Is.EquivalentTo(new[]
        {
            "virtualServer.scheduler", "virtualServer.weight", "virtualServer.delayLoop", "bgp.localAs", "bgp.holdTime",
        }));
    }

    [Test]
    public void Errors_in_a_Service_override_name_the_Service()
    {
        Assert.That(Errors("services:\n  shop/api: {healthCheck: {statusCode: 999}}"),
            Is.EqualTo(new[] { "services[\"shop/api\"].healthCheck.statusCode: must be an integer from 100 to 599, got \"999\"" }));
    }

    [TestCase("/ok\"; MISC_CHECK {")]
    [TestCase("/ok\n}")]
    [TestCase("/ok }")]
    [TestCase("/ok{")]
    [TestCase("/a#b")]
    [TestCase("/a!b")]
    [TestCase("/a;b")]
    [TestCase("/a$b")]
    [TestCase("/a@b")]
    [TestCase("/a'b")]
    [TestCase("/a\tb")]
    [TestCase("/%zz")]
    [TestCase("relative")]
    [TestCase("/ok\n")]
    public void An_http_path_that_could_break_out_of_its_line_is_rejected(string path)
    {
        var yaml = $"virtualServer: {{healthCheck: {{path: \"{path.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n").Replace("\t", "\\t")}\"}}}}";
        Assert.That(Errors(yaml).Single(), Does.StartWith("virtualServer.healthCheck.path: "));
    }

    [Test]
    public void An_http_path_longer_than_keepalived_keeps_on_one_line_is_rejected()
    {
        Assert.That(Errors($"virtualServer: {{healthCheck: {{path: /{new string('a', TuningParser.MaxHttpPathLength - 1)}}}}}"), Is.Empty);
        Assert.That(Errors($"virtualServer: {{healthCheck: {{path: /{new string('a', TuningParser.MaxHttpPathLength)}}}}}"),
            Is.EqualTo(new[] { $"virtualServer.healthCheck.path: is {TuningParser.MaxHttpPathLength + 1} characters long; at most {TuningParser.MaxHttpPathLength} (keepalived splits config lines longer than 1024 bytes)" }));
    }

    [TestCase("bgp: {routerId: 0.0.0.0}", "bgp.routerId: 0.0.0.0 is not a valid BGP identifier (RFC 6286)")]
    [TestCase("bgp: {nextHop: 0.0.0.0}", "bgp.nextHop: 0.0.0.0 is in \"this network\" (0.0.0.0/8); a next-hop must be an address the router can forward to")]
    [TestCase("bgp: {nextHop: 224.0.0.1}", "bgp.nextHop: 224.0.0.1 is in multicast (224.0.0.0/4); a next-hop must be an address the router can forward to")]
    [TestCase("bgp: {nextHop: \"::\"}", "bgp.nextHop: :: is in the unspecified address (::); a next-hop must be an address the router can forward to")]
    public void An_unusable_router_id_or_next_hop_is_rejected_by_its_field(string yaml, string error) =>
        Assert.That(Errors(yaml), Is.EqualTo(new[] { error }));

    [TestCase("a: &a [*a]")]
    [TestCase("metadata: &m {name: x, labels: *m}")]
    [TestCase("a: &x 1\nb: &x [*x]")]
    public void A_self_referencing_alias_is_an_error_not_a_crash(string yaml) =>
        Assert.That(Errors(yaml).Single(), Does.Contain("refers to a node that contains it"));

    [Test]
    public void Deep_nesting_is_an_error_not_a_crash() =>
        Assert.That(Errors(new string('[', 200_000)).Single(), Does.Contain("nests deeper than 64 levels"));

    [TestCase("/")]
    [TestCase("/healthz")]
    [TestCase("/api/v1/ready?verbose=1&x=%20y")]
    [TestCase("/a-b_c.d~e/f:g+h,i=j*(k)")]
    public void An_ordinary_http_path_is_accepted(string path) =>
        Assert.That(Valid($"virtualServer: {{healthCheck: {{path: \"{path}\"}}}}").VirtualServer.HealthCheck.Path, Is.EqualTo(path));

    [TestCase("holdTime: 0", true)]
    [TestCase("holdTime: 3", true)]
    [TestCase("holdTime: 1", false)]
    [TestCase("holdTime: 2", false)]
    [TestCase("holdTime: 65536", false)]
    public void Hold_time_follows_RFC_4271(string setting, bool valid) =>
        Assert.That(TuningParser.Parse($"bgp: {{{setting}}}", "t").Succeeded, Is.EqualTo(valid));

    [Test]
    public void A_peer_listed_twice_is_an_error() =>
        Assert.That(Errors("bgp: {peers: [10.0.0.1, 10.0.0.1]}"), Is.EqualTo(new[] { "bgp.peers[1]: 10.0.0.1 is listed twice" }));

    [Test]
    public void Broken_yaml_is_reported_with_its_line() =>
        Assert.That(Errors("virtualServer:\n  scheduler: [rr\n"), Has.One.StartsWith("line "));

    [Test]
    public void Several_documents_are_rejected() =>
        Assert.That(Errors("{}\n---\n{}\n"), Is.EqualTo(new[] { ": must be a single YAML document" }));

    [Test]
    public void A_scalar_where_a_mapping_belongs_is_an_error() =>
        Assert.That(Errors("virtualServer: fast"), Is.EqualTo(new[] { "virtualServer: must be a mapping" }));

    [Test]
    public void L2_mode_reads_its_section_and_bgp_stays_the_default()
    {
        Assert.That(Valid("{}").Mode, Is.EqualTo(LbMode.Bgp));
        var tuning = Valid("mode: l2\nl2: {interface: enp1s0, firstRouterId: 100, lastRouterId: 149, advertInterval: 0.25, preemptDelay: 60}");
        Assert.That(tuning.Mode, Is.EqualTo(LbMode.L2));
        Assert.That(tuning.L2, Is.EqualTo(new L2Settings("enp1s0", 100, 149, 25, 60)));
        Assert.That(Valid("mode: l2").L2, Is.EqualTo(L2Settings.Default));
        Assert.That(Valid("l2: {advertInterval: 3}").L2.AdvertIntervalCentiseconds, Is.EqualTo(300));
        Assert.That(Valid("l2: {advertInterval: 0.5}").L2.AdvertIntervalCentiseconds, Is.EqualTo(50));
    }

    [TestCase("mode: arp", "mode: must be one of bgp, l2, got \"arp\"")]
    [TestCase("l2: {interface: \"eth0 dev lo\"}", "l2.interface: \"eth0 dev lo\" is not a network interface name (at most 15 letters, digits and _.@-)")]
    [TestCase("l2: {interface: averyveryverylongname}", "l2.interface: \"averyveryverylongname\" is not a network interface name (at most 15 letters, digits and _.@-)")]
    [TestCase("l2: {firstRouterId: 0}", "l2.firstRouterId: must be an integer from 1 to 255, got \"0\"")]
    [TestCase("l2: {firstRouterId: 20, lastRouterId: 10}", "l2.lastRouterId: 10 is below firstRouterId (20)")]
    [TestCase("l2: {advertInterval: 0}", "l2.advertInterval: must be seconds from 0.01 to 40.95 with at most two decimals, got \"0\"")]
    [TestCase("l2: {advertInterval: 0.001}", "l2.advertInterval: must be seconds from 0.01 to 40.95 with at most two decimals, got \"0.001\"")]
    [TestCase("l2: {advertInterval: 41}", "l2.advertInterval: must be seconds from 0.01 to 40.95 with at most two decimals, got \"41\"")]
    [TestCase("l2: {preemptDelay: 1001}", "l2.preemptDelay: must be an integer from 0 to 1000, got \"1001\"")]
    [TestCase("mode: l2\nbgp: {peers: [10.0.0.1]}", "bgp.peers: lists peers, but mode is l2: exabgp stays idle in l2 mode; remove the peers or set mode: bgp")]
    public void A_bad_L2_setting_is_rejected_by_its_field(string yaml, string error) =>
        Assert.That(Errors(yaml), Is.EqualTo(new[] { error }));
}
