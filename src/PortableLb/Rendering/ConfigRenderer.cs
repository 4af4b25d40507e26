using HandlebarsDotNet;
using PortableLb.Model;

namespace PortableLb.Rendering;

public sealed record RenderedConfigs(string IpvsConf, string ExabgpConf);

/// <summary>
/// DesiredState → the text of ipvs.conf and exabgp.conf. The output depends only on the state and the templates;
/// the memo cache only saves re-rendering virtual servers that did not change. `keepalivedReloadFile` is the path of
/// keepalived's reload handshake, rendered into ipvs.conf's global_defs when the caller confirms reloads with it.
/// </summary>
public sealed class ConfigRenderer(TemplateSet templates, string? keepalivedReloadFile = null)
{
    private readonly Lock _lock = new();

    public TemplateSet Templates { get; } = templates;

    public RenderedConfigs Render(DesiredState state)
    {
        lock (_lock)
        {
            Templates.Memo.BeginRender();
            return new(Run(Templates.Ipvs, new IpvsView(state, keepalivedReloadFile), TemplateSet.IpvsTemplate),
                Run(Templates.Exabgp, new ExabgpView(state), TemplateSet.ExabgpTemplate));
        }
    }

    /// <summary>
    /// exabgp.conf alone, for states that differ only in announcements (the withdrawal): ipvs.conf would render the
    /// same, and rendering it again would also age the memo cache by a generation.
    /// </summary>
    public string RenderExabgp(DesiredState state)
    {
        lock (_lock) return Run(Templates.Exabgp, new ExabgpView(state), TemplateSet.ExabgpTemplate);
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
