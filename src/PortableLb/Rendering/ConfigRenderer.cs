using Scriban;
using Scriban.Runtime;
using Scriban.Syntax;
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

    /// <summary>Backs `wrap memo`; the text it holds was produced by these templates.</summary>
    public MemoCache Memo { get; } = new();

    private MemoFunction? _memo;

    public RenderedConfigs Render(DesiredState state)
    {
        // Rendered without them, L2 mode would look applied while no pod holds a VIP.
        if (state.Vrrp is { Instances.Count: > 0 } && !Templates.IpvsRendersVrrp)
        {
            throw new TemplateException($"{Templates.Source}/{TemplateSet.IpvsTemplate} does not lay out vrrpInstances, which L2 mode (mode: l2) needs; add the loop from the built-in template (templates/README.md)");
        }
        lock (_lock)
        {
            Memo.BeginRender();
            return new(Run(Templates.Ipvs, IpvsGlobals(new IpvsView(state, keepalivedReloadFile))), Run(Templates.Exabgp, ExabgpGlobals(new ExabgpView(state))));
        }
    }

    /// <summary>
    /// exabgp.conf alone, for states that differ only in announcements (the withdrawal): ipvs.conf would render the
    /// same, and rendering it again would also age the memo cache by a generation.
    /// </summary>
    public string RenderExabgp(DesiredState state)
    {
        lock (_lock) return Run(Templates.Exabgp, ExabgpGlobals(new ExabgpView(state)));
    }

    // The top level is built by hand rather than imported by reflection: these names are the template contract
    // (templates/README.md), and the views below them are read through the camelCase renamer.
    private ScriptObject IpvsGlobals(IpvsView view) => new()
    {
        ["reloadFile"] = view.ReloadFile,
        ["virtualServers"] = view.VirtualServers,
        ["vrrpInstances"] = view.VrrpInstances,
        ["memo"] = _memo ??= new MemoFunction(Memo),
    };

    private static ScriptObject ExabgpGlobals(ExabgpView view) => new()
    {
        ["enabled"] = view.Enabled,
        ["neighbors"] = view.Neighbors,
        ["routes"] = view.Routes,
    };

    private static string Run(Template template, ScriptObject globals)
    {
        var context = new TemplateContext
        {
            // An unknown name or member is an error, not an empty setting in a daemon's config.
            StrictVariables = true,
            EnableRelaxedMemberAccess = false,
            // Scriban's defaults stop at 1,000 loop iterations (1k real servers) and cut output past 1 MiB with "...",
            // silently: a config has no size a template engine may decide on.
            LoopLimit = 0,
            LimitToString = 0,
            // Daemon configs are laid out by the template's own text; Scriban's include indentation must not add to it.
            AutoIndent = false,
            NewLine = "\n",
            MemberRenamer = member => char.ToLowerInvariant(member.Name[0]) + member.Name[1..],
        };
        context.PushGlobal(globals);
        try
        {
            return template.Render(context);
        }
        catch (ScriptRuntimeException e)
        {
            // Its message starts with the template's path, line and column.
            throw new TemplateException(e.Message, e);
        }
    }
}
