using System.Diagnostics;
using System.Text.Json.Nodes;
using PortableLb.Testing.Manifests;

namespace PortableLb.Tests.Deployment;

/// <summary>
/// Every rendered object against the official Kubernetes OpenAPI schema, through npm's kubernetes-models
/// (tests/manifest-schema; build.cake's Test target runs `npm ci` there). It checks types and required fields;
/// unknown fields are ManifestTests' job.
/// </summary>
public sealed class SchemaTests
{
    private static string SchemaFolder => Path.Combine(Repository.Root, "tests", "manifest-schema");

    private static async Task<(int ExitCode, string Output)> ValidateAsync(JsonArray objects)
    {
        Daemons.Require("node");
        if (!Directory.Exists(Path.Combine(SchemaFolder, "node_modules", "kubernetes-models")))
        {
            Daemons.Missing("kubernetes-models (npm)", $"npm ci --prefix {SchemaFolder}");
        }
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, objects.ToJsonString());
            var start = new ProcessStartInfo("node", [Path.Combine(SchemaFolder, "validate.mjs"), file]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestCaseSource(typeof(ManifestTests), nameof(ManifestTests.Kustomizations))]
    public async Task Every_rendered_object_is_valid_against_the_Kubernetes_schema(string kustomization)
    {
        var objects = await RenderedManifests.RenderAsync(kustomization);
        var (exitCode, output) = await ValidateAsync(new JsonArray(objects.Select(o => (JsonNode)o.DeepClone()).ToArray()));
        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Contain($"{objects.Count} of {objects.Count} objects valid"));
    }

    [Test]
    public async Task The_schema_check_rejects_a_missing_selector_and_a_wrongly_typed_port()
    {
        var broken = JsonNode.Parse("""
            [
              {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}},
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "y"}, "spec": {"ports": [{"port": "eighty"}]}}
            ]
            """)!.AsArray();
        var (exitCode, output) = await ValidateAsync(broken);
        Assert.That(exitCode, Is.EqualTo(1));
        Assert.That(output, Does.Contain("must have required property selector").And.Contain("port must be integer"));
    }
}
