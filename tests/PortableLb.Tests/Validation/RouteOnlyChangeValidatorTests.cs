using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Rendering;
using PortableLb.Validation;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Validation;

public sealed class RouteOnlyChangeValidatorTests
{
    private static string Exabgp(string yaml, string tuning = "bgp: {peers: [192.0.2.254]}") =>
        new ConfigRenderer(TemplateSet.Embedded()).Render(DesiredStateBuilder.Build(FromYaml(yaml), Tune(tuning), Node).State).ExabgpConf;

    private static string Web(string name, string address) => address.Contains(':', StringComparison.Ordinal)
        ? Service(name, address) + Slice(name, "[{addresses: [\"fd00::1\"]}]", addressType: "IPv6", name: $"{name}-1")
        : Service(name, address) + Slice(name, "[{addresses: [10.244.1.1]}]", name: $"{name}-1");

    [Test]
    public async Task Routes_coming_and_going_are_judged_once_per_shape()
    {
        var exabgp = new CountingValidator("exabgp");
        var validator = new RouteOnlyChangeValidator(exabgp);
        foreach (var yaml in new[] { Web("a", "192.0.2.10"), Web("a", "192.0.2.10") + Web("b", "192.0.2.11"), Web("b", "192.0.2.12"), Web("c", "198.51.100.7") })
        {
            Assert.That((await validator.ValidateAsync(Exabgp(yaml), CancellationToken.None)).IsValid, Is.True);
        }
        Assert.That((exabgp.Calls, validator.Shortcuts), Is.EqualTo((1, 3)));
    }

    [Test]
    public async Task No_routes_another_family_new_attributes_or_other_neighbours_go_to_exabgp()
    {
        var exabgp = new CountingValidator("exabgp");
        var validator = new RouteOnlyChangeValidator(exabgp);
        await validator.ValidateAsync(Exabgp(Web("a", "192.0.2.10")), CancellationToken.None);
        await validator.ValidateAsync(Exabgp(Service("a", "192.0.2.10")), CancellationToken.None);
        await validator.ValidateAsync(Exabgp(Web("a", "2001:db8::10")), CancellationToken.None);
        await validator.ValidateAsync(Exabgp(Web("a", "192.0.2.10"), "bgp: {peers: [192.0.2.254], communities: [no-export]}"), CancellationToken.None);
        await validator.ValidateAsync(Exabgp(Web("a", "192.0.2.10"), "bgp: {peers: [192.0.2.253]}"), CancellationToken.None);
        Assert.That((exabgp.Calls, validator.Shortcuts), Is.EqualTo((5, 0)));
    }

    [Test]
    public async Task A_prewarmed_shape_is_judged_in_the_background_once()
    {
        var exabgp = new CountingValidator("exabgp");
        var validator = new RouteOnlyChangeValidator(exabgp);
        var withdrawn = Exabgp(Service("a", "192.0.2.10"));
        await Task.WhenAll(validator.PrewarmAsync(withdrawn), validator.PrewarmAsync(withdrawn));
        await validator.PrewarmAsync(withdrawn);
        Assert.That((await validator.ValidateAsync(withdrawn, CancellationToken.None)).IsValid, Is.True);
        Assert.That((exabgp.Calls, validator.Shortcuts), Is.EqualTo((1, 1)));
    }

    [Test]
    public void A_route_line_of_any_other_shape_disables_the_shortcut()
    {
        const string config = "neighbor 192.0.2.254 {\n    static {\n        route 192.0.2.10/32 next-hop self;\n    }\n}\n";
        Assert.That(RouteOnlyChangeValidator.Skeleton(config), Is.Null);
        Assert.That(RouteOnlyChangeValidator.Skeleton(config.Replace("self", "192.0.2.1;\n        route 192.0.2.11/32 next-hop 192.0.2.1 med 5", StringComparison.Ordinal)), Is.Null);
    }

    [Test]
    public async Task A_rejected_candidate_is_never_remembered_and_the_real_exabgp_agrees_with_the_shortcut()
    {
        Daemons.Require("exabgp");
        var exabgp = new CountingValidator("exabgp", new ExabgpValidator(new ProcessRunner()));
        var validator = new RouteOnlyChangeValidator(exabgp);
        // An IPv6 route with an IPv4 next-hop: exabgp --test refuses it, so the IPv4 shape it resembles is not learnt.
        var mixed = Exabgp(Web("a", "192.0.2.10")).Replace("route 192.0.2.10/32", "route 2001:db8::10/128", StringComparison.Ordinal);
        Assert.That((await validator.ValidateAsync(mixed, CancellationToken.None)).IsValid, Is.False);
        Assert.That((await validator.ValidateAsync(mixed, CancellationToken.None)).IsValid, Is.False);
        Assert.That(exabgp.Calls, Is.EqualTo(2));

        Assert.That((await validator.ValidateAsync(Exabgp(Web("a", "192.0.2.10")), CancellationToken.None)).IsValid, Is.True);
        var shortcut = Exabgp(Web("b", "192.0.2.99") + Web("c", "192.0.2.98"));
        Assert.That((await validator.ValidateAsync(shortcut, CancellationToken.None)).IsValid, Is.True);
        Assert.That(validator.Shortcuts, Is.EqualTo(1));
        Assert.That((await new ExabgpValidator(new ProcessRunner()).ValidateAsync(shortcut, CancellationToken.None)).IsValid, Is.True, "exabgp itself accepts what the shortcut accepted");
    }
}
