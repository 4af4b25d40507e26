using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PortableLb.Sources;
using YamlDotNet.RepresentationModel;

namespace PortableLb.Testing.Manifests;

/// <summary>
/// Every kustomization under manifests/ rendered by the real `kubectl kustomize` (offline), as raw JSON objects
/// and as our typed models with unknown fields rejected.
/// </summary>
public static class RenderedManifests
{
    public static string Manifests => Repository.Path("manifests");

    /// <summary>base, every overlay and every example: each folder that holds a kustomization.yaml.</summary>
    public static IEnumerable<string> Kustomizations() =>
        Directory.EnumerateFiles(Manifests, "kustomization.yaml", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Manifests, Path.GetDirectoryName(f)!))
            .Order(StringComparer.Ordinal);

    private static readonly JsonSerializerOptions Strict = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public static async Task<List<JsonObject>> RenderAsync(string kustomization)
    {
        Daemons.Require("kubectl");
        var start = new ProcessStartInfo("kubectl", ["kustomize", Path.Combine(Manifests, kustomization)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.That(process.ExitCode, Is.Zero, $"kubectl kustomize {kustomization}: {await errors}");
        var stream = new YamlStream();
        stream.Load(new StringReader(await output));
        return stream.Documents.Select(d => (JsonObject)YamlToJson.Convert(d.RootNode)!).ToList();
    }

    public static KubeObject Typed(JsonObject obj)
    {
        var kind = obj["kind"]?.GetValue<string>();
        var name = obj["metadata"]?["name"]?.GetValue<string>();
        Type type = kind switch
        {
            "Namespace" => typeof(NamespaceObject),
            "ServiceAccount" => typeof(ServiceAccountObject),
            "Role" => typeof(RoleObject),
            "RoleBinding" => typeof(RoleBindingObject),
            "ClusterRole" => typeof(ClusterRoleObject),
            "ClusterRoleBinding" => typeof(ClusterRoleBindingObject),
            "ConfigMap" => typeof(ConfigMapObject),
            "Service" => typeof(ServiceObject),
            "Deployment" => typeof(DeploymentObject),
            "DaemonSet" => typeof(DaemonSetObject),
            "PodDisruptionBudget" => typeof(PodDisruptionBudgetObject),
            _ => throw new AssertionException($"{kind} {name}: no typed model for this kind; add one before shipping it"),
        };
        try
        {
            return (KubeObject)obj.Deserialize(type, Strict)!;
        }
        catch (JsonException e)
        {
            throw new AssertionException($"{kind} {name}: {e.Message}");
        }
    }
}
