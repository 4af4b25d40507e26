using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace PortableLb.Tuning;

/// <summary>
/// Reads typed values out of a YAML tree and collects every problem by path instead of stopping at the first,
/// so one run of the parser tells a user everything that is wrong with their config.yaml.
/// </summary>
internal sealed class YamlFieldReader(string source)
{
    private readonly List<TuningError> _errors = [];

    public IReadOnlyList<TuningError> Errors => _errors;

    public void Error(string path, string message) => _errors.Add(new TuningError(source, path, message));

    public static bool IsNull(YamlNode? node) =>
        node is null || (node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } s && s.Value is null or "" or "~" or "null" or "Null" or "NULL");

    /// <summary>The mapping's entries by key; unknown keys and non-string keys are errors. A null node is an empty mapping.</summary>
    public IReadOnlyDictionary<string, YamlNode> Mapping(YamlNode? node, string path, IReadOnlyCollection<string>? allowedKeys)
    {
        var entries = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        if (IsNull(node)) return entries;
        if (node is not YamlMappingNode mapping)
        {
            Error(path, "must be a mapping");
            return entries;
        }
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                Error(path, "has a key that is not a string");
                continue;
            }
            if (allowedKeys is not null && !allowedKeys.Contains(key))
            {
                Error(Join(path, key), $"unknown key; expected one of {string.Join(", ", allowedKeys)}");
                continue;
            }
            // "key:" with no value means "not set", as Kubernetes treats it, so the default applies.
            if (!IsNull(valueNode)) entries[key] = valueNode;
        }
        return entries;
    }

    public long? Integer(YamlNode node, string path, long min, long max)
    {
        if (node is YamlScalarNode { Value: { } text }
            && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            if (value >= min && value <= max) return value;
        }
        Error(path, $"must be an integer from {min} to {max}, got {Describe(node)}");
        return null;
    }

    public bool? Boolean(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: "true" or "false" } scalar) return scalar.Value == "true";
        Error(path, $"must be true or false, got {Describe(node)}");
        return null;
    }

    public string? String(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: { } text }) return text;
        Error(path, $"must be a string, got {Describe(node)}");
        return null;
    }

    public T? Enum<T>(YamlNode node, string path, IReadOnlyDictionary<string, T> names) where T : struct
    {
        if (node is YamlScalarNode { Value: { } text })
        {
            foreach (var (name, value) in names)
            {
                if (string.Equals(name, text, StringComparison.OrdinalIgnoreCase)) return value;
            }
        }
        Error(path, $"must be one of {string.Join(", ", names.Keys)}, got {Describe(node)}");
        return null;
    }

    public IReadOnlyList<(YamlNode Node, string Path)> Sequence(YamlNode node, string path)
    {
        if (IsNull(node)) return [];
        if (node is YamlSequenceNode sequence) return sequence.Children.Select((child, i) => (child, $"{path}[{i}]")).ToList();
        Error(path, $"must be a list, got {Describe(node)}");
        return [];
    }

    public static string Join(string path, string key) =>
        path.Length == 0 ? key : key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') ? $"{path}.{key}" : $"{path}[\"{Common.IpText.Printable(key)}\"]";

    private static string Describe(YamlNode node) => node switch
    {
        YamlScalarNode { Value: var v } => $"\"{Common.IpText.Printable(v ?? "")}\"",
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        _ => "an unsupported node",
    };
}
