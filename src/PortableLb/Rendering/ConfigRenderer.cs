using HandlebarsDotNet;
using PortableLb.Model;

namespace PortableLb.Rendering;

public sealed record RenderedConfigs(string IpvsConf, string ExabgpConf);

/// <summary>DesiredState → the text of ipvs.conf and exabgp.conf. Pure apart from the compiled templates it holds.</summary>
public sealed class ConfigRenderer(TemplateSet templates)
{
    public TemplateSet Templates { get; } = templates;

    public RenderedConfigs Render(DesiredState state) =>
        new(Run(Templates.Ipvs, TemplateModel.ForIpvs(state), TemplateSet.IpvsTemplate),
            Run(Templates.Exabgp, TemplateModel.ForExabgp(state), TemplateSet.ExabgpTemplate));

    private string Run(HandlebarsTemplate<object, object> template, object model, string name)
    {
        try
        {
            return template(model);
        }
        catch (Exception e) when (e is HandlebarsException or HandlebarsDotNet.Compiler.HandlebarsUndefinedBindingException)
        {
            throw new TemplateException($"{Templates.Source}/{name}: {e.Message}", e);
        }
    }
}
