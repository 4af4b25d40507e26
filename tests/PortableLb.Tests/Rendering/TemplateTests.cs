using System.Net;
using PortableLb.Model;
using PortableLb.Rendering;
using PortableLb.Tuning;

namespace PortableLb.Tests.Rendering;

public sealed class TemplateTests
{
    private static readonly DesiredState OneServer = new(
        ValueList.Of(new VirtualServer(new ServiceName("default", "web"), new VirtualAddress.Socket(IPAddress.Parse("192.0.2.10"), 80, Protocol.Tcp),
            Scheduler.Rr, Forwarding.Nat, 5, 0,
            ValueList.Of(new RealServer(IPAddress.Parse("10.244.1.1"), 8080, 1, 0, RealServerState.Ready, new HealthCheck(CheckKind.None, 5, 3, 2, 8080, "/", 200))))),
        null, ValueList<Announcement>.Empty);

    [Test]
    public void An_unknown_variable_is_an_error_in_strict_mode()
    {
        var renderer = new ConfigRenderer(TemplateSet.Compile("test", "{{#each virtualServers}}{{lb_algo}}{{/each}}", "# off"));
        Assert.That(() => renderer.Render(OneServer), Throws.TypeOf<TemplateException>().With.Message.StartsWith("test/ipvs.conf.hbs"));
    }

    [Test]
    public void A_template_that_does_not_compile_names_its_file()
    {
        Assert.That(() => TemplateSet.Compile("mine", "{{#each x}}", "# off"), Throws.TypeOf<TemplateException>().With.Message.StartsWith("mine/ipvs.conf.hbs"));
    }

    [Test]
    public void Values_are_not_html_escaped()
    {
        var renderer = new ConfigRenderer(TemplateSet.Compile("test", "{{#each virtualServers}}{{description}}{{/each}}", "# off"));
        var state = OneServer with { VirtualServers = ValueList.Of(OneServer.VirtualServers[0] with { Address = new VirtualAddress.Socket(IPAddress.Parse("2001:db8::1"), 80, Protocol.Tcp) }) };
        Assert.That(renderer.Render(state).IpvsConf, Is.EqualTo("2001:db8::1 TCP/80"));
    }

    [Test]
    public void A_template_folder_overrides_the_built_in_templates_and_falls_back_for_missing_ones()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-templates-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, TemplateSet.IpvsTemplate), "# mine: {{#each virtualServers}}{{address}}{{/each}}\n");
            var configs = new ConfigRenderer(TemplateSet.FromDirectory(folder)).Render(OneServer);
            Assert.That(configs.IpvsConf, Is.EqualTo("# mine: 192.0.2.10 80\n"));
            Assert.That(configs.ExabgpConf, Does.StartWith("# BGP is off"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void A_missing_template_folder_is_an_error() =>
        Assert.That(() => TemplateSet.FromDirectory("/nonexistent/templates"), Throws.TypeOf<TemplateException>());

    [Test]
    public void Without_a_checker_no_checker_block_is_rendered_and_every_setting_is_explicit()
    {
        var text = new ConfigRenderer(TemplateSet.Embedded()).Render(OneServer).IpvsConf;
        Assert.That(text, Does.Contain("virtual_server 192.0.2.10 80 {").And.Contain("lb_kind NAT").And.Contain("protocol TCP").And.Contain("weight 1").And.Contain("uthreshold 0"));
        Assert.That(text, Does.Not.Contain("_CHECK").And.Not.Contain("_GET").And.Not.Contain("persistence_timeout"));
    }
}
