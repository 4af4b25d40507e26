using System.Text.Json.Nodes;

namespace PortableLb.Testing.FakeApi;

/// <summary>Label selectors (k=v, k==v, k!=v, k, !k) and field selectors on metadata.name, metadata.namespace and spec.nodeName.</summary>
public sealed class Selector(IReadOnlyList<Func<JsonObject, bool>> terms)
{
    public static Selector All { get; } = new([]);

    public bool Matches(JsonObject obj) => terms.All(term => term(obj));

    public static Selector Parse(string? labels, string? fields)
    {
        var terms = new List<Func<JsonObject, bool>>();
        foreach (var term in Split(labels))
        {
            if (term.Split("!=") is [var key, var value]) terms.Add(o => Label(o, key) != value);
            else if (term.Split("==") is [var key2, var value2]) terms.Add(o => Label(o, key2) == value2);
            else if (term.Split('=') is [var key3, var value3]) terms.Add(o => Label(o, key3) == value3);
            else if (term.StartsWith('!')) terms.Add(o => Label(o, term[1..]) is null);
            else terms.Add(o => Label(o, term) is not null);
        }
        foreach (var term in Split(fields))
        {
            var negate = term.Contains("!=");
            var parts = term.Split(negate ? "!=" : "=");
            if (parts is not [var field, var value]) throw new InvalidOperationException($"unsupported field selector {term}");
            Func<JsonObject, string?> read = field switch
            {
                "metadata.name" => o => o["metadata"]?["name"]?.GetValue<string>(),
                "metadata.namespace" => o => o["metadata"]?["namespace"]?.GetValue<string>(),
                "spec.nodeName" => o => o["spec"]?["nodeName"]?.GetValue<string>(),
                _ => throw new InvalidOperationException($"unsupported field selector {field}"),
            };
            terms.Add(o => (read(o) == value) != negate);
        }
        return new Selector(terms);
    }

    private static IEnumerable<string> Split(string? selector) =>
        string.IsNullOrEmpty(selector) ? [] : selector.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    private static string? Label(JsonObject obj, string key) => obj["metadata"]?["labels"]?[key]?.GetValue<string>();
}
