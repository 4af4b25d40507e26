using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Rendering;
using PortableLb.Validation;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Validation;

public sealed class RealServerOnlyChangeValidatorTests
{
    private static string Ipvs(string yaml, string tuning = "bgp: {peers: [192.0.2.254]}") =>
        new ConfigRenderer(TemplateSet.Embedded(), "/run/plb/ipvs.reload").Render(DesiredStateBuilder.Build(FromYaml(yaml), Tune(tuning), Node).State).IpvsConf;

    private static string Web(string name, string address, params string[] endpoints) =>
        Service(name, address) + Slice(name, "[" + string.Join(", ", endpoints.Select(e => $"{{addresses: [\"{e}\"]}}")) + "]",
            addressType: endpoints[0].Contains(':', StringComparison.Ordinal) ? "IPv6" : "IPv4", name: $"{name}-1");

    [Test]
    public async Task Endpoints_coming_and_going_are_judged_once_per_shape()
    {
        var keepalived = new CountingValidator("keepalived");
        var validator = new RealServerOnlyChangeValidator(keepalived);
        foreach (var endpoints in new[] { ["10.244.1.1"], ["10.244.1.1", "10.244.2.7"], new[] { "10.244.3.3" }, ["10.244.1.9", "10.244.2.1", "10.244.2.2"] })
        {
            Assert.That((await validator.ValidateAsync(Ipvs(Web("a", "192.0.2.10", endpoints)), CancellationToken.None)).IsValid, Is.True);
        }
        Assert.That((keepalived.Calls, validator.Shortcuts), Is.EqualTo((1, 3)));
    }

    [Test]
    public async Task A_new_Service_another_family_or_new_tuning_goes_to_keepalived()
    {
        var keepalived = new CountingValidator("keepalived");
        var validator = new RealServerOnlyChangeValidator(keepalived);
        await validator.ValidateAsync(Ipvs(Web("a", "192.0.2.10", "10.244.1.1")), CancellationToken.None);
        await validator.ValidateAsync(Ipvs(Web("a", "192.0.2.10", "10.244.1.1") + Web("b", "192.0.2.11", "10.244.1.1")), CancellationToken.None);
        await validator.ValidateAsync(Ipvs(Web("a", "2001:db8::10", "fd00::1")), CancellationToken.None);
        await validator.ValidateAsync(Ipvs(Web("a", "192.0.2.10", "10.244.1.1"), "{bgp: {peers: [192.0.2.254]}, virtualServer: {healthCheck: {retry: 5}}}"), CancellationToken.None);
        await validator.ValidateAsync(Ipvs(Service("a", "192.0.2.10")), CancellationToken.None);
        Assert.That((keepalived.Calls, validator.Shortcuts), Is.EqualTo((5, 0)));
    }

    private const string Accepted = """
        virtual_server 192.0.2.10 80 {
            delay_loop 5
            lb_algo rr
            lb_kind NAT
            protocol TCP
            real_server 10.244.1.1 8080 {
                weight 1
                TCP_CHECK {
                    connect_timeout 3
                    connect_port 8080
                }
            }
        }
        """;

    [TestCase("real_server 10.244.1.1 8080 {", "real_server 10.244.1.2 8080 {", true, TestName = "another address of the same family: the same shape")]
    [TestCase("weight 1", "weight 0", false, TestName = "another weight")]
    [TestCase("real_server 10.244.1.1 8080 {", "real_server 10.244.1.1 8081 {", false, TestName = "another port")]
    [TestCase("real_server 10.244.1.1 8080 {", "real_server fd00::1 8080 {", false, TestName = "another family")]
    [TestCase("real_server 10.244.1.1 8080 {", "real_server 127.0.0.1 8080 {", false, TestName = "a loopback address keeps its own verdict")]
    [TestCase("real_server 10.244.1.1 8080 {", "real_server 224.0.0.5 8080 {", false, TestName = "a multicast address keeps its own verdict")]
    [TestCase("real_server 10.244.1.1 8080 {", "real_server 010.244.1.1 8080 {", null, TestName = "an address in a form keepalived may read otherwise")]
    [TestCase("real_server 10.244.1.1 8080 {", "real_server 192.0.2.10 8080 {", null, TestName = "the virtual server's own address")]
    [TestCase("lb_kind NAT", "lb_kind NAT\n    quorum 3", null, TestName = "quorum, which makes the sum of the weights matter")]
    [TestCase("weight 1", "weight 1\n        lthreshold 5", null, TestName = "a keyword the template never renders")]
    [TestCase("weight 1", "weight $W", null, TestName = "a variable")]
    [TestCase("delay_loop 5", "@host1 delay_loop 5", null, TestName = "a condition")]
    [TestCase("lb_kind NAT", "lb_kind NAT\n}\ninclude /etc/other.conf\nvirtual_server 192.0.2.11 80 {", null, TestName = "an include")]
    [TestCase("        }\n    }\n}", "        }\n    }", null, TestName = "a block left open")]
    public void What_the_skeleton_keeps(string from, string to, bool? sameShape)
    {
        var candidate = Accepted.Replace(from, to, StringComparison.Ordinal);
        Assert.That(candidate, Is.Not.EqualTo(Accepted), "the case changes the config");
        var original = RealServerOnlyChangeValidator.Skeleton(Accepted);
        var changed = RealServerOnlyChangeValidator.Skeleton(candidate);
        Assert.That(original, Is.Not.Null);
        if (sameShape is null) Assert.That(changed, Is.Null, "only keepalived may judge it");
        else Assert.That(changed == original, Is.EqualTo(sameShape.Value), changed);
    }

    [Test]
    public void Alike_real_servers_collapse_but_a_real_server_named_twice_does_not()
    {
        var two = Accepted.Replace("        }\n    }\n}", "        }\n    }\n    real_server 10.244.2.2 8080 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n            connect_port 8080\n        }\n    }\n}", StringComparison.Ordinal);
        Assert.That(two, Is.Not.EqualTo(Accepted));
        Assert.That(RealServerOnlyChangeValidator.Skeleton(two), Is.EqualTo(RealServerOnlyChangeValidator.Skeleton(Accepted)));
        Assert.That(RealServerOnlyChangeValidator.Skeleton(two.Replace("10.244.2.2", "10.244.1.1", StringComparison.Ordinal)), Is.Null);
    }

    [Test]
    public async Task Weights_that_are_all_0_are_never_accepted_by_the_shortcut_and_the_real_keepalived_agrees_with_it()
    {
        Daemons.Require("keepalived");
        var keepalived = new CountingValidator("keepalived", new KeepalivedValidator(new ProcessRunner()));
        var validator = new RealServerOnlyChangeValidator(keepalived);
        var allZero = Accepted.Replace("weight 1", "weight 0", StringComparison.Ordinal);
        Assert.That((await validator.ValidateAsync(allZero, CancellationToken.None)).IsValid, Is.False, "keepalived warns that the quorum exceeds the total weight");
        Assert.That((await validator.ValidateAsync(allZero.Replace("10.244.1.1", "10.244.1.2", StringComparison.Ordinal), CancellationToken.None)).IsValid, Is.False);
        Assert.That((keepalived.Calls, validator.Shortcuts), Is.EqualTo((2, 0)));

        Assert.That((await validator.ValidateAsync(Accepted, CancellationToken.None)).IsValid, Is.True);
        var shortcut = Ipvs(Web("a", "192.0.2.10", "10.244.1.1"));
        Assert.That((await validator.ValidateAsync(shortcut, CancellationToken.None)).IsValid, Is.True);
        var moved = Ipvs(Web("a", "192.0.2.10", "10.244.7.7", "10.244.8.8"));
        Assert.That((await validator.ValidateAsync(moved, CancellationToken.None)).IsValid, Is.True);
        Assert.That((keepalived.Calls, validator.Shortcuts), Is.EqualTo((4, 1)));
        Assert.That((await new KeepalivedValidator(new ProcessRunner()).ValidateAsync(moved, CancellationToken.None)).IsValid, Is.True, "keepalived itself accepts what the shortcut accepted");
    }
}
