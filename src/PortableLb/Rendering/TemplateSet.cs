using System.Reflection;
using HandlebarsDotNet;

namespace PortableLb.Rendering;

/// <summary>
/// The two compiled templates. Strict mode makes an unknown variable an error, so a typo in a user's template
/// fails at render time instead of silently producing an empty setting in a daemon's config.
/// </summary>
public sealed class TemplateSet
{
    public const string IpvsTemplate = "ipvs.conf.hbs";
    public const string ExabgpTemplate = "exabgp.conf.hbs";

    private TemplateSet(string source, MemoCache memo, HandlebarsTemplate<object, object> ipvs, HandlebarsTemplate<object, object> exabgp, bool ipvsNamesReloadFile)
    {
        Source = source;
        IpvsNamesReloadFile = ipvsNamesReloadFile;
        Memo = memo;
        Ipvs = ipvs;
        Exabgp = exabgp;
    }

    /// <summary>Where the templates came from: "embedded" or a folder.</summary>
    public string Source { get; }
    public HandlebarsTemplate<object, object> Ipvs { get; }

    /// <summary>Whether ipvs.conf.hbs uses `reloadFile`; a custom template that drops it cannot confirm keepalived reloads.</summary>
    public bool IpvsNamesReloadFile { get; }
    public HandlebarsTemplate<object, object> Exabgp { get; }

    /// <summary>Backs the `{{#memo}}` block helper; the text it holds was produced by these templates.</summary>
    public MemoCache Memo { get; }

    /// <summary>The templates a command runs with: those in `directory` (--templates), else the built-in ones.</summary>
    public static TemplateSet Load(string? directory) => directory is null ? Embedded() : FromDirectory(directory);

    public static TemplateSet Embedded() =>
        Compile("embedded", ReadEmbedded(IpvsTemplate), ReadEmbedded(ExabgpTemplate));

    /// <summary>Templates from a folder (a mounted ConfigMap); a template the folder lacks falls back to the embedded one.</summary>
    public static TemplateSet FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new TemplateException($"template folder {directory} does not exist");
        string Read(string name)
        {
            var path = Path.Combine(directory, name);
            return File.Exists(path) ? File.ReadAllText(path) : ReadEmbedded(name);
        }
        return Compile(directory, Read(IpvsTemplate), Read(ExabgpTemplate));
    }

    public static TemplateSet Compile(string source, string ipvs, string exabgp)
    {
        var handlebars = Handlebars.Create(new HandlebarsConfiguration
        {
            ThrowOnUnresolvedBindingExpression = true,
            // Daemon configs are not HTML; every value is already typed and validated before it gets here.
            NoEscape = true,
            // NoEscape does not reach block helpers that render their block to a string ({{#memo}}); no encoder does.
            TextEncoder = null,
        });
        var memo = new MemoCache();
        // {{#memo}}…{{/memo}} renders its block once per distinct context (an IMemoKey) and reuses the text after.
        handlebars.RegisterHelper("memo", (HandlebarsBlockHelper)((output, options, context, _) =>
        {
            var text = context.Value is IMemoKey keyed ? memo.GetOrRender(keyed.MemoKey, () => options.Template()) : options.Template();
            output.Write(text, encode: false);
        }));
        return new TemplateSet(source, memo, CompileOne(handlebars, ipvs, $"{source}/{IpvsTemplate}"), CompileOne(handlebars, exabgp, $"{source}/{ExabgpTemplate}"),
            ipvs.Contains("reloadFile", StringComparison.Ordinal));
    }

    private static HandlebarsTemplate<object, object> CompileOne(IHandlebars handlebars, string text, string name)
    {
        try
        {
            return handlebars.Compile(text);
        }
        catch (HandlebarsException e)
        {
            throw new TemplateException($"{name}: {e.Message}", e);
        }
    }

    private static string ReadEmbedded(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"templates/{name}")
            ?? throw new TemplateException($"the embedded template {name} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

public sealed class TemplateException(string message, Exception? inner = null) : Exception(message, inner);
