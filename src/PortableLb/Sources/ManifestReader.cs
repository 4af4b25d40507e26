using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PortableLb.Common;
using k8s;
using k8s.Models;
using PortableLb.Kubernetes;
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

    /// <summary>Larger files are refused unread: the API server's own bound is 1.5 MiB per object.</summary>
    public const long MaxFileBytes = 64L << 20;

    [GeneratedRegex(@"^---(?:[ \t].*)?$|^\.\.\.[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex DocumentMarker();

    /// <summary>The kinds PortableLb reads, each in the one apiVersion it reads.</summary>
    private static readonly Dictionary<string, string> ReadVersions = new(StringComparer.Ordinal)
    {
        ["Service"] = "v1",
        ["EndpointSlice"] = "discovery.k8s.io/v1",
        ["ConfigMap"] = "v1",
        ["Secret"] = "v1",
        ["Pod"] = "v1",
    };

    public static ManifestSet ReadPaths(IEnumerable<string> paths)
    {
        var objects = new List<IKubernetesObject<V1ObjectMeta>>();
        var errors = new List<ManifestError>();
        var warnings = new List<ManifestError>();
        var documents = 0;
        foreach (var file in ExpandPaths(paths, errors))
        {
            try
            {
                if (new FileInfo(file).Length > MaxFileBytes)
                {
                    errors.Add(new ManifestError(file, 0, $"is larger than the {MaxFileBytes >> 20} MiB a manifest file may be"));
                    continue;
                }
                documents += ReadInto(RegularFile.ReadText(file, MaxFileBytes), file, new Found(objects, errors, warnings));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ManifestError(file, 0, $"cannot be read: {e.Message}"));
            }
        }
        return ManifestSet.From(objects, errors, documents) with { Warnings = warnings };
    }

    public static ManifestSet ReadText(string text, string source)
    {
        var found = new Found([], [], []);
        var documents = ReadInto(text, source, found);
        return ManifestSet.From(found.Objects, found.Errors, documents) with { Warnings = found.Warnings };
    }

    /// <summary>What reading has found so far.</summary>
    private sealed record Found(List<IKubernetesObject<V1ObjectMeta>> Objects, List<ManifestError> Errors, List<ManifestError> Warnings);

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

    private static int ReadInto(string text, string source, Found found)
    {
        var errors = found.Errors;
        var index = 0;
        // Windows line ends: without this, "---\r" is not a separator and every document after the first is lost.
        foreach (var chunk in DocumentMarker().Split(text.ReplaceLineEndings("\n")))
        {
            if (IsBlank(chunk)) continue;
            index++;
            JsonNode? root;
            try
            {
                YamlLimits.Default.Check(chunk);
                var stream = new YamlStream();
                stream.Load(new StringReader(chunk));
                if (stream.Documents.Count == 0) continue;
                root = YamlToJson.Convert(stream.Documents[0].RootNode);
            }
            catch (YamlLimitException e)
            {
                errors.Add(new ManifestError(source, index, $"is refused (line {e.Start.Line} of the document): it {e.Message}"));
                continue;
            }
            catch (YamlException e)
            {
                errors.Add(new ManifestError(source, index, $"is not valid YAML or JSON (line {e.Start.Line} of the document): {FirstLine(e.Message)}"));
                continue;
            }
            if (root is null) continue;
            try
            {
                Dispatch(root, "", source, index, found);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or NotSupportedException or OverflowException)
            {
                // Hostile shapes the typed models do not expect (duplicate keys, values out of range) cost this
                // document, never the source that reads it.
                errors.Add(new ManifestError(source, index, $"cannot be read as a Kubernetes object: {FirstLine(e.Message)}"));
            }
        }
        return index;
    }

    private static void Dispatch(JsonNode node, string path, string source, int index, Found found)
    {
        var errors = found.Errors;
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
                if (items[i] is { } item) Dispatch(item, $"{path}items[{i}]", source, index, found);
            }
            return;
        }

        try
        {
            IKubernetesObject<V1ObjectMeta>? parsed = (apiVersion, kind) switch
            {
                ("v1", "Service") => obj.Deserialize(KubernetesJsonContext.Default.V1Service),
                ("discovery.k8s.io/v1", "EndpointSlice") => obj.Deserialize(KubernetesJsonContext.Default.V1EndpointSlice),
                ("v1", "ConfigMap") => obj.Deserialize(KubernetesJsonContext.Default.V1ConfigMap),
                ("v1", "Secret") => obj.Deserialize(KubernetesJsonContext.Default.V1Secret),
                ("v1", "Pod") => obj.Deserialize(KubernetesJsonContext.Default.V1Pod),
                _ => null,
            };
            if (parsed is null)
            {
                if (ReadVersions.TryGetValue(kind, out var read))
                {
                    found.Warnings.Add(new ManifestError(source, index, $"{Where(path)}{kind} {IpText.Printable(NameOf(obj))}: apiVersion {IpText.Printable(apiVersion)} is not read (PortableLb reads {read}); skipped"));
                }
                return;
            }
            if (parsed.Metadata?.Name is not { Length: > 0 })
            {
                errors.Add(new ManifestError(source, index, $"{Where(path)}{kind}: metadata.name is required"));
                return;
            }
            found.Objects.Add(parsed);
        }
        catch (JsonException e)
        {
            var name = NameOf(obj);
            var field = e.Path is { Length: > 1 } jsonPath ? jsonPath.TrimStart('$', '.') : "?";
            errors.Add(new ManifestError(source, index, $"{Where(path)}{kind} {IpText.Printable(name)}: {field}: has the wrong type"));
        }
    }

    private static string NameOf(JsonObject obj)
    {
        var metadata = obj["metadata"] as JsonObject;
        return $"{(metadata?["namespace"] as JsonValue)?.ToString() ?? "default"}/{(metadata?["name"] as JsonValue)?.ToString() ?? "?"}";
    }

    private static string Where(string path) => path.Length == 0 ? "" : $"{path}: ";

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();

    private static bool IsBlank(string chunk) =>
        chunk.Split('\n').All(line => line.Trim() is "" || line.TrimStart().StartsWith('#') || line.TrimStart().StartsWith('%'));
}
