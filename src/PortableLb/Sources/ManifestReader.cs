using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PortableLb.Common;
using PortableLb.Kubernetes.Models;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PortableLb.Sources;

/// <summary>
/// Reads Kubernetes manifests: files or folders (not recursive, like kubectl -f) of YAML or JSON, multi-document,
/// and List objects such as `kubectl get -o yaml` writes. Kinds PortableLb does not use are skipped; a broken
/// document is reported by file and index and does not hide the others.
/// </summary>
public static partial class ManifestReader
{
    private static readonly string[] Extensions = [".yaml", ".yml", ".json"];

    [GeneratedRegex(@"^---(?:[ \t].*)?$|^\.\.\.[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex DocumentMarker();

    public static ManifestSet ReadPaths(IEnumerable<string> paths)
    {
        var objects = new List<IKubernetesObject>();
        var errors = new List<ManifestError>();
        var documents = 0;
        foreach (var file in ExpandPaths(paths, errors))
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ManifestError(file, 0, $"cannot be read: {e.Message}"));
                continue;
            }
            documents += ReadInto(text, file, objects, errors);
        }
        return ManifestSet.From(objects, errors, documents);
    }

    public static ManifestSet ReadText(string text, string source)
    {
        var objects = new List<IKubernetesObject>();
        var errors = new List<ManifestError>();
        var documents = ReadInto(text, source, objects, errors);
        return ManifestSet.From(objects, errors, documents);
    }

    public static IEnumerable<string> ExpandPaths(IEnumerable<string> paths, ICollection<ManifestError> errors)
    {
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path).Where(IsManifestFile).Order(StringComparer.Ordinal)) yield return file;
            }
            else if (File.Exists(path))
            {
                yield return path;
            }
            else
            {
                errors.Add(new ManifestError(path, 0, "no such file or folder"));
            }
        }
    }

    public static bool IsManifestFile(string path) => Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    private static int ReadInto(string text, string source, List<IKubernetesObject> objects, List<ManifestError> errors)
    {
        var index = 0;
        foreach (var chunk in DocumentMarker().Split(text))
        {
            if (IsBlank(chunk)) continue;
            index++;
            JsonNode? root;
            try
            {
                var stream = new YamlStream();
                stream.Load(new StringReader(chunk));
                if (stream.Documents.Count == 0) continue;
                root = YamlToJson.Convert(stream.Documents[0].RootNode);
            }
            catch (YamlException e)
            {
                errors.Add(new ManifestError(source, index, $"is not valid YAML or JSON (line {e.Start.Line} of the document): {FirstLine(e.Message)}"));
                continue;
            }
            if (root is null) continue;
            Dispatch(root, "", source, index, objects, errors);
        }
        return index;
    }

    private static void Dispatch(JsonNode node, string path, string source, int index, List<IKubernetesObject> objects, List<ManifestError> errors)
    {
        if (node is not JsonObject obj)
        {
            errors.Add(new ManifestError(source, index, $"{Where(path)}is not a Kubernetes object (a mapping with apiVersion and kind)"));
            return;
        }
        var kind = (obj["kind"] as JsonValue)?.GetValueKind() == JsonValueKind.String ? obj["kind"]!.GetValue<string>() : null;
        var apiVersion = (obj["apiVersion"] as JsonValue)?.GetValueKind() == JsonValueKind.String ? obj["apiVersion"]!.GetValue<string>() : null;
        if (kind is null || apiVersion is null)
        {
            errors.Add(new ManifestError(source, index, $"{Where(path)}is not a Kubernetes object: apiVersion and kind are required"));
            return;
        }

        if (kind.EndsWith("List", StringComparison.Ordinal) && obj["items"] is JsonArray items)
        {
            for (var i = 0; i < items.Count; i++)
            {
                if (items[i] is { } item) Dispatch(item, $"{path}items[{i}]", source, index, objects, errors);
            }
            return;
        }

        try
        {
            IKubernetesObject? parsed = (apiVersion, kind) switch
            {
                ("v1", "Service") => obj.Deserialize(KubernetesJsonContext.Default.Service),
                ("discovery.k8s.io/v1", "EndpointSlice") => obj.Deserialize(KubernetesJsonContext.Default.EndpointSlice),
                ("v1", "ConfigMap") => obj.Deserialize(KubernetesJsonContext.Default.ConfigMap),
                ("v1", "Secret") => obj.Deserialize(KubernetesJsonContext.Default.Secret),
                _ => null,
            };
            if (parsed is null) return;
            if (parsed.Metadata?.Name is not { Length: > 0 })
            {
                errors.Add(new ManifestError(source, index, $"{Where(path)}{kind}: metadata.name is required"));
                return;
            }
            objects.Add(parsed);
        }
        catch (JsonException e)
        {
            var metadata = obj["metadata"] as JsonObject;
            var name = $"{metadata?["namespace"]?.ToString() ?? "default"}/{metadata?["name"]?.ToString() ?? "?"}";
            var field = e.Path is { Length: > 1 } jsonPath ? jsonPath.TrimStart('$', '.') : "?";
            errors.Add(new ManifestError(source, index, $"{Where(path)}{kind} {IpText.Printable(name)}: {field}: has the wrong type"));
        }
    }

    private static string Where(string path) => path.Length == 0 ? "" : $"{path}: ";

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    private static bool IsBlank(string chunk) =>
        chunk.Split('\n').All(line => line.Trim() is "" || line.TrimStart().StartsWith('#') || line.TrimStart().StartsWith('%'));
}
