using System.Net;
using PortableLb.Common;
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
    public void An_unknown_variable_is_an_error_that_names_the_file_line_and_column()
    {
        var renderer = new ConfigRenderer(TemplateSet.Compile("test", "# first\n{{ for vs in virtualServers }}{{ lb_algo }}{{ end }}", "# off"));
        Assert.That(() => renderer.Render(OneServer), Throws.TypeOf<TemplateException>().With.Message.StartsWith("test/ipvs.conf.scriban(2,").And.Message.Contains("lb_algo"));
    }

    [Test]
    public void A_misspelt_member_is_an_error_not_an_empty_setting()
    {
        var renderer = new ConfigRenderer(TemplateSet.Compile("test", "{{ for vs in virtualServers }}lb_algo {{ vs.schedular }}{{ end }}", "# off"));
        Assert.That(() => renderer.Render(OneServer), Throws.TypeOf<TemplateException>().With.Message.StartsWith("test/ipvs.conf.scriban(1,").And.Message.Contains("schedular"));
    }

    [Test]
    public void A_template_that_does_not_parse_names_its_file()
    {
        Assert.That(() => TemplateSet.Compile("mine", "{{ for vs in virtualServers }}", "# off"), Throws.TypeOf<TemplateException>().With.Message.StartsWith("mine/ipvs.conf.scriban(1,"));
    }

    [Test]
    public void Memo_outside_a_wrap_block_is_an_error()
    {
        var renderer = new ConfigRenderer(TemplateSet.Compile("test", "{{ for vs in virtualServers }}{{ memo vs }}{{ end }}", "# off"));
        Assert.That(() => renderer.Render(OneServer), Throws.TypeOf<TemplateException>().With.Message.Contains("memo is a block"));
    }

    [Test]
    public void A_folder_of_Handlebars_templates_is_an_error_that_asks_for_a_port_not_a_silent_fallback()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-templates-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "ipvs.conf.hbs"), "{{#each virtualServers}}{{address}}{{/each}}\n");
            Assert.That(() => TemplateSet.FromDirectory(folder), Throws.TypeOf<TemplateException>()
                .With.Message.EqualTo($"{folder}/ipvs.conf.hbs is a Handlebars template, which PortableLb no longer reads. Port it to ipvs.conf.scriban (templates/README.md shows both syntaxes)"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Values_are_not_escaped()
    {
        var renderer = new ConfigRenderer(TemplateSet.Compile("test", "{{ for vs in virtualServers }}{{ vs.description }}{{ end }}", "# off"));
        var state = OneServer with { VirtualServers = ValueList.Of(OneServer.VirtualServers[0] with { Address = new VirtualAddress.Socket(IPAddress.Parse("2001:db8::1"), 80, Protocol.Tcp) }) };
        Assert.That(renderer.Render(state).IpvsConf, Is.EqualTo("2001:db8::1 TCP/80"));
    }

    [Test]
    public void A_template_folder_overrides_the_built_in_templates_and_falls_back_for_missing_ones()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-templates-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, TemplateSet.IpvsTemplate), "# mine: {{ for vs in virtualServers }}{{ vs.address }}{{ end }}\n");
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

    private static DesiredState Servers(int count, int changed = -1) => new(
        Enumerable.Range(0, count).Select(i => OneServer.VirtualServers[0] with
        {
            Address = new VirtualAddress.Socket(IPAddress.Parse($"192.0.2.{i + 1}"), 80, Protocol.Tcp),
            DelayLoop = i == changed ? 9 : 5,
        }).ToValueList(),
        null, ValueList<Announcement>.Empty);

    [Test]
    public void An_unchanged_virtual_server_comes_from_the_memo_cache()
    {
        var renderer = new ConfigRenderer(TemplateSet.Embedded());
        var first = renderer.Render(Servers(5)).IpvsConf;
        var second = renderer.Render(Servers(5)).IpvsConf;
        Assert.That(second, Is.EqualTo(first));
        Assert.That((renderer.Memo.Hits, renderer.Memo.Misses), Is.EqualTo((5, 0)));
    }

    [Test]
    public void A_changed_virtual_server_is_rendered_anew_and_the_text_is_as_if_uncached()
    {
        var warm = new ConfigRenderer(TemplateSet.Embedded());
        warm.Render(Servers(5));
        var changed = warm.Render(Servers(5, changed: 2)).IpvsConf;

        Assert.That((warm.Memo.Hits, warm.Memo.Misses), Is.EqualTo((4, 1)));
        Assert.That(changed, Is.EqualTo(new ConfigRenderer(TemplateSet.Embedded()).Render(Servers(5, changed: 2)).IpvsConf));
        Assert.That(changed, Does.Contain("delay_loop 9"));
    }

    [Test]
    public void Text_inside_a_memo_block_is_not_escaped()
    {
        var state = OneServer with
        {
            VirtualServers = ValueList.Of(OneServer.VirtualServers[0] with
            {
                RealServers = ValueList.Of(OneServer.VirtualServers[0].RealServers[0] with { Check = new HealthCheck(CheckKind.Http, 5, 3, 2, 8080, "/ready?a=1&b=2", 200) }),
            }),
        };
        Assert.That(new ConfigRenderer(TemplateSet.Embedded()).Render(state).IpvsConf, Does.Contain("path /ready?a=1&b=2\n"));
    }

    /// <summary>
    /// Scriban's defaults stop a loop at 1,000 iterations and cut output past 1 MiB with a trailing "...", silently;
    /// 10k real servers render about 2.3 MB. Every real server must be there, and the file must end as it should.
    /// </summary>
    [TestCase(10_000)]
    [TestCase(50_000)]
    public void Nothing_is_cut_short_at_tens_of_thousands_of_real_servers(int count)
    {
        var template = OneServer.VirtualServers[0].RealServers[0];
        var state = OneServer with
        {
            VirtualServers = ValueList.Of(OneServer.VirtualServers[0] with
            {
                RealServers = Enumerable.Range(0, count).Select(i => template with { Address = new IPAddress(BitConverter.GetBytes(0x0A000000 + i + 1).Reverse().ToArray()) }).ToValueList(),
            }),
        };
        var text = new ConfigRenderer(TemplateSet.Embedded()).Render(state).IpvsConf;
        Assert.That(text.Split("real_server ").Length - 1, Is.EqualTo(count));
        Assert.That(text, Does.Contain($"real_server {new IPAddress(BitConverter.GetBytes(0x0A000000 + count).Reverse().ToArray())} 8080 {{"));
        Assert.That(text, Does.EndWith("        uthreshold 0\n    }\n}\n"));
        Assert.That(text.Length, Is.GreaterThan(count * 60));
    }
}
