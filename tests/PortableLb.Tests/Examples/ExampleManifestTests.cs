using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Sources;
using YamlDotNet.RepresentationModel;

namespace PortableLb.Tests.Examples;

/// <summary>The examples users copy: the thesis web app and the routing configs, checked by the real daemons.</summary>
public sealed class ExampleManifestTests
{
    private static string Repo() => Repository.Root;

    private static readonly string Routing = Path.Combine(Repo(), "manifests", "examples", "routing");

    [Test]
    public void The_thesis_web_example_is_a_Service_PortableLb_serves_on_the_thesis_range()
    {
        var set = ManifestReader.ReadPaths([Path.Combine(Repo(), "manifests", "examples", "thesis")]);
        Assert.That(set.Errors, Is.Empty);
        var service = set.Snapshot.Services.Single();
        Assert.That(DesiredStateBuilder.IsServed(service), Is.True);
        Assert.That(ServiceAddresses.Resolve(service, new ProtectedAddresses(NodeAddresses.None, PortableLb.Tuning.BgpSettings.Default), pools: [], (field, message) => Assert.Fail($"{field}: {message}")).Single().Network.ToString(), Is.EqualTo("10.1.1.0/24"));
    }

    [Test]
    public async Task The_route_reflector_config_is_accepted_by_gobgpd()
    {
        Daemons.Require("gobgpd");
        var result = await new ProcessRunner().RunAsync("gobgpd", ["-d", "-t", "yaml", "-f", Path.Combine(Routing, "gobgpd-route-reflector.yaml")], null, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.That(result.ExitCode, Is.Zero, result.StandardOutput + result.StandardError);
    }

    [Test]
    public async Task Gobgpd_would_reject_a_broken_copy_so_the_check_above_can_fail()
    {
        Daemons.Require("gobgpd");
        var broken = Path.Combine(Path.GetTempPath(), $"portable-lb-rr-{Guid.NewGuid():N}.yaml");
        try
        {
            await File.WriteAllTextAsync(broken, (await File.ReadAllTextAsync(Path.Combine(Routing, "gobgpd-route-reflector.yaml"))).Replace("as: 65021", "as: not-a-number"));
            var result = await new ProcessRunner().RunAsync("gobgpd", ["-d", "-t", "yaml", "-f", broken], null, TimeSpan.FromSeconds(30), CancellationToken.None);
            Assert.That(result.ExitCode, Is.Not.Zero);
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Test]
    public void The_route_reflector_sends_every_path_to_the_router_and_takes_LB_pods_as_dynamic_neighbours()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Routing, "gobgpd-route-reflector.yaml"))));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        YamlNode At(YamlNode node, params object[] path) => path.Aggregate(node, (n, key) => key is int i ? ((YamlSequenceNode)n)[i] : ((YamlMappingNode)n)[(string)key]);

        Assert.That(At(root, "dynamic-neighbors", 0, "config", "peer-group").ToString(), Is.EqualTo("k8s"));
        Assert.That(At(root, "peer-groups", 0, "transport", "config", "passive-mode").ToString(), Is.EqualTo("true"));
        var router = At(root, "neighbors", 0);
        Assert.That(At(router, "route-reflector", "config", "route-reflector-client").ToString(), Is.EqualTo("true"));
        Assert.That(At(router, "afi-safis", 0, "add-paths", "config", "send-max").ToString(), Is.EqualTo("255"), "ADD-PATH sits under afi-safis in gobgp 3");
    }

    [Test]
    public async Task The_router_config_is_accepted_by_FRR_and_a_broken_line_is_not()
    {
        Daemons.Require("vtysh");
        var runner = new ProcessRunner();
        var good = await runner.RunAsync("vtysh", ["-C", "-f", Path.Combine(Routing, "frr-router.conf")], null, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.That(good.ExitCode, Is.Zero, good.StandardOutput + good.StandardError);

        var broken = Path.Combine(Path.GetTempPath(), $"portable-lb-frr-{Guid.NewGuid():N}.conf");
        try
        {
            await File.WriteAllTextAsync(broken, "router bgp 65021\n maximum-paths-typo ibgp 16\n");
            var bad = await runner.RunAsync("vtysh", ["-C", "-f", broken], null, TimeSpan.FromSeconds(30), CancellationToken.None);
            Assert.That(bad.ExitCode, Is.Not.Zero);
        }
        finally
        {
            File.Delete(broken);
        }
    }
}
