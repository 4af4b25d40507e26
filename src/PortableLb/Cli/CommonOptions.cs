using PortableLb.Apply;
using System.CommandLine;
using System.Net;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Tuning;

namespace PortableLb.Cli;

/// <summary>What `render` and `run` both read: the objects, the tuning, this pod's addresses, which Services, the templates.</summary>
public sealed record CommonValues(
    IReadOnlyList<string> Objects,
    IReadOnlyList<ServiceName> Services,
    NodeAddresses Node,
    string? TuningFile,
    (string Namespace, string Name)? TuningConfigMap,
    string? BgpPasswordSecret,
    string? TemplatesDirectory)
{
    /// <summary>--bgp-password-secret read against a namespace: NS/NAME as given, or NAME in `defaultNamespace`.</summary>
    public (string Namespace, string Name)? PasswordSecret(string defaultNamespace) => BgpPasswordSecret switch
    {
        null => null,
        var text when text.Split('/', 2) is [var ns, var name] => (ns, name),
        var name => (defaultNamespace, name),
    };
}

/// <summary>
/// The flags `render` and `run` share, defined once so the two commands read the same things the same way. `run`
/// also takes each from PORTABLE_LB_&lt;FLAG&gt; (the pod's environment); `render` reads only its command line.
/// </summary>
public sealed class CommonOptions
{
    private readonly Option<string[]> _objects;
    private readonly Option<string[]> _services;
    private readonly Option<string[]> _nodeIps;
    private readonly Option<string[]> _podIps;
    private readonly Option<string?> _tuning;
    private readonly Option<string?> _tuningConfigMap;
    private readonly Option<string?> _bgpPasswordSecret;
    private readonly Option<string?> _templates;

    public CommonOptions(OptionFactory options, string objectsHelp)
    {
        _objects = options.Repeatable("--objects", objectsHelp);
        _services = options.Repeatable("--service", "Only these Services (NAMESPACE/NAME); repeatable.");
        _nodeIps = options.Repeatable("--node-ip", "This node's IP, once per address family: the default BGP next-hop.");
        _podIps = options.Repeatable("--pod-ip", "This pod's IP, once per address family: BGP router-id and local-address.");
        _tuning = options.Single("--tuning", "config.yaml with the tuning schema (the ConfigMap's data key).");
        _tuningConfigMap = options.Single("--tuning-configmap", "NAMESPACE/NAME of the tuning ConfigMap (data key config.yaml).");
        _bgpPasswordSecret = options.Single("--bgp-password-secret", "Secret with the BGP TCP-MD5 password in data key `password` (NAME, or NS/NAME with --objects).");
        _templates = options.Single("--templates", "Folder with ipvs.conf.scriban and exabgp.conf.scriban overriding the built-in templates.");
    }

    public IEnumerable<Option> All => [_objects, _tuning, _tuningConfigMap, _nodeIps, _podIps, _services, _templates, _bgpPasswordSecret];

    public CommonValues Parse(ParseResult parse, List<string> problems)
    {
        var node = NodeAddresses.FromLists(Addresses(parse.GetValue(_nodeIps) ?? [], "--node-ip", problems), Addresses(parse.GetValue(_podIps) ?? [], "--pod-ip", problems), out var nodeErrors);
        problems.AddRange(nodeErrors);
        // L2 mode's default interface; looked up once, as the pod's address does not move.
        node = node with { Interface = LocalInterfaces.Holding([node.PodIPv4, node.PodIPv6]) };
        var values = new CommonValues(
            parse.GetValue(_objects) ?? [],
            (parse.GetValue(_services) ?? []).Select(s => NamespacedName(s, "--service", problems)).OfType<(string Namespace, string Name)>().Select(n => new ServiceName(n.Namespace, n.Name)).ToList(),
            node,
            parse.GetValue(_tuning),
            parse.GetValue(_tuningConfigMap) is { } configMap ? NamespacedName(configMap, "--tuning-configmap", problems) : null,
            parse.GetValue(_bgpPasswordSecret),
            parse.GetValue(_templates));
        if (values.TuningFile is not null && values.TuningConfigMap is not null) problems.Add("--tuning and --tuning-configmap exclude each other");
        if (values.BgpPasswordSecret is { } secret && secret.Split('/') is not ([{ Length: > 0 }] or [{ Length: > 0 }, { Length: > 0 }]))
        {
            problems.Add($"--bgp-password-secret: \"{IpText.Printable(secret)}\" is not NAME or NAMESPACE/NAME");
        }
        return values;
    }

    /// <summary>The tuning as these flags choose it, with the password Secret read against `defaultNamespace`.</summary>
    public static TuningChoice Tuning(CommonValues values, string defaultNamespace) =>
        new TuningChoice(values.TuningFile, values.TuningConfigMap) { PasswordSecret = values.PasswordSecret(defaultNamespace) };

    private static List<IPAddress> Addresses(IEnumerable<string> values, string option, List<string> problems)
    {
        var result = new List<IPAddress>();
        foreach (var value in values)
        {
            // These become the BGP next-hop, router-id and local-address: an unspecified or multicast one is no address.
            if (IpText.TryParseAddress(value, out var address) && IpText.IsUnspecifiedOrMulticast(address))
            {
                problems.Add($"{option}: {address} is unspecified or multicast, not this {(option == "--node-ip" ? "node" : "pod")}'s address");
            }
            else if (IpText.TryParseAddress(value, out address)) result.Add(address);
            else problems.Add($"{option}: \"{IpText.Printable(value)}\" is not an IP address");
        }
        return result;
    }

    internal static (string Namespace, string Name)? NamespacedName(string value, string option, List<string> problems)
    {
        if (value.Split('/') is [{ Length: > 0 } ns, { Length: > 0 } name]) return (ns, name);
        problems.Add($"{option}: \"{IpText.Printable(value)}\" is not NAMESPACE/NAME");
        return null;
    }
}

/// <summary>Makes options; with `fromEnvironment`, each one's default is PORTABLE_LB_&lt;FLAG&gt; (upper case, dashes as underscores).</summary>
public sealed class OptionFactory(bool fromEnvironment)
{
    public static string EnvironmentName(string flag) => "PORTABLE_LB_" + flag.TrimStart('-').Replace('-', '_').ToUpperInvariant();

    public Option<string?> Single(string name, string description, string? fallback = null) => new(name)
    {
        Description = fromEnvironment ? $"{description} [env: {EnvironmentName(name)}]" : description,
        DefaultValueFactory = _ => fromEnvironment && Environment.GetEnvironmentVariable(EnvironmentName(name)) is { Length: > 0 } set ? set : fallback,
    };

    /// <summary>Repeatable; from the environment as a comma-separated list.</summary>
    public Option<string[]> Repeatable(string name, string description) => new(name)
    {
        Description = fromEnvironment ? $"{description} [env: {EnvironmentName(name)}, comma-separated]" : description,
        AllowMultipleArgumentsPerToken = true,
        DefaultValueFactory = _ => fromEnvironment
            ? (Environment.GetEnvironmentVariable(EnvironmentName(name)) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [],
    };
}
