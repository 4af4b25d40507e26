using System.Reflection;
using Scriban;

namespace PortableLb.Rendering;

/// <summary>
/// The two parsed Scriban templates. Parsing happens once, here, so a syntax error in a user's template is a startup
/// error that names the file, line and column, not a failure at the first change.
/// </summary>
public sealed class TemplateSet
{
    public const string IpvsTemplate = "ipvs.conf.scriban";
    public const string ExabgpTemplate = "exabgp.conf.scriban";

    /// <summary>The Handlebars templates of earlier releases: a folder of them must be ported, not half-used.</summary>
    private static readonly string[] HandlebarsTemplates = ["ipvs.conf.hbs", "exabgp.conf.hbs"];

    private TemplateSet(string source, Template ipvs, Template exabgp, bool ipvsNamesReloadFile)
    {
        Source = source;
        Ipvs = ipvs;
        Exabgp = exabgp;
        IpvsNamesReloadFile = ipvsNamesReloadFile;
    }

    /// <summary>Where the templates came from: "embedded" or a folder.</summary>
    public string Source { get; }
    public Template Ipvs { get; }
    public Template Exabgp { get; }

    /// <summary>Whether ipvs.conf.scriban uses `reloadFile`; a custom template that drops it cannot confirm keepalived reloads.</summary>
    public bool IpvsNamesReloadFile { get; }

    /// <summary>Whether ipvs.conf.scriban lays out `vrrpInstances`; a custom template from before L2 mode cannot serve it.</summary>
    public bool IpvsRendersVrrp { get; private init; }

    /// <summary>The templates a command runs with: those in `directory` (--templates), else the built-in ones.</summary>
    public static TemplateSet Load(string? directory) => directory is null ? Embedded() : FromDirectory(directory);

    public static TemplateSet Embedded() =>
        Compile("embedded", ReadEmbedded(IpvsTemplate), ReadEmbedded(ExabgpTemplate));

    /// <summary>Templates from a folder (a mounted ConfigMap); a template the folder lacks falls back to the embedded one.</summary>
    public static TemplateSet FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new TemplateException($"template folder {directory} does not exist");
        string Read(string name, string handlebarsName)
        {
            var path = Path.Combine(directory, name);
            if (File.Exists(path)) return File.ReadAllText(path);
            // Falling back to the built-in template here would silently drop the user's customisation.
            if (File.Exists(Path.Combine(directory, handlebarsName)))
            {
                throw new TemplateException($"{directory}/{handlebarsName} is a Handlebars template, which PortableLb no longer reads. Port it to {name} (templates/README.md shows both syntaxes)");
            }
            return ReadEmbedded(name);
        }
        return Compile(directory, Read(IpvsTemplate, HandlebarsTemplates[0]), Read(ExabgpTemplate, HandlebarsTemplates[1]));
    }

    public static TemplateSet Compile(string source, string ipvs, string exabgp) =>
        new(source, Parse(ipvs, $"{source}/{IpvsTemplate}"), Parse(exabgp, $"{source}/{ExabgpTemplate}"), ipvs.Contains("reloadFile", StringComparison.Ordinal))
        {
            IpvsRendersVrrp = ipvs.Contains("vrrpInstances", StringComparison.Ordinal),
        };

    private static Template Parse(string text, string name)
    {
        var template = Template.Parse(text, name);
        // Scriban's messages start with the source path and the line and column, e.g. "mine/ipvs.conf.scriban(3,5) : error : …".
        if (template.HasErrors) throw new TemplateException(string.Join("; ", template.Messages.Select(m => m.ToString())));
        return template;
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
