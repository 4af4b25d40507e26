using HandlebarsDotNet;
using PortableLb.Model;

namespace PortableLb.Rendering;

public sealed record RenderedConfigs(string IpvsConf, string ExabgpConf);

/// <summary>
/// DesiredState → the text of ipvs.conf and exabgp.conf. The output depends only on the state and the templates;
/// the memo cache only saves re-rendering virtual servers that did not change.
/// </summary>
public sealed class ConfigRenderer(TemplateSet templates)
{
    private readonly Lock _lock = new();

    public TemplateSet Templates { get; } = templates;

    public RenderedConfigs Render(DesiredState state)
    {
        lock (_lock)
        {
            Templates.Memo.BeginRender();
            return new(Run(Templates.Ipvs, new IpvsView(state), TemplateSet.IpvsTemplate),
                Run(Templates.Exabgp, new ExabgpView(state), TemplateSet.ExabgpTemplate));
        }
    }

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
