using PortableLb.Sources;

namespace PortableLb.Tests.Sources;

public sealed class ManifestReaderTests
{
    private const string WebService = """
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: shop}
        spec: {type: LoadBalancer, ports: [{port: 80}]}
        """;

    [Test]
    public void Multi_document_YAML_is_read_document_by_document()
    {
        var set = ManifestReader.ReadText("---\n" + WebService + "\n---\n# just a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: tuning}\ndata: {config.yaml: \"{}\"}\n...\n", "m.yaml");
        Assert.That(set.Errors, Is.Empty);
        Assert.That(set.Snapshot.Services.Single().Metadata!.Name, Is.EqualTo("web"));
        Assert.That(set.Snapshot.ConfigMaps.Single().Data!["config.yaml"], Is.EqualTo("{}"));
    }

    [Test]
    public void A_kubectl_List_is_unpacked_and_unknown_kinds_are_skipped()
    {
        var set = ManifestReader.ReadText("""
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "x"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}]}},
              {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}},
              {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "items": [
                {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "a-1", "namespace": "x", "labels": {"kubernetes.io/service-name": "a"}}, "addressType": "IPv4", "endpoints": []}
              ]}
            ]}
            """, "list.json");
        Assert.That(set.Errors, Is.Empty);
        Assert.That(set.Snapshot.Services, Has.Count.EqualTo(1));
        Assert.That(set.Snapshot.SlicesFor("x", "a").Single().Metadata!.Name, Is.EqualTo("a-1"));
    }

    [Test]
    public void A_broken_document_is_named_by_index_and_the_others_still_load()
    {
        var set = ManifestReader.ReadText(WebService + "\n---\nkind: [unclosed\n---\n" + WebService.Replace("name: web", "name: api"), "mixed.yaml");
        Assert.That(set.Errors.Single().ToString(), Does.StartWith("mixed.yaml: document 2: is not valid YAML or JSON"));
        Assert.That(set.Snapshot.Services.Select(s => s.Metadata!.Name), Is.EqualTo(new[] { "web", "api" }));
    }

    [Test]
    public void A_field_of_the_wrong_type_names_the_object_and_the_field()
    {
        var set = ManifestReader.ReadText(WebService.Replace("ports: [{port: 80}]", "ports: [{port: [80]}]"), "bad.yaml");
        Assert.That(set.Errors.Single().ToString(), Is.EqualTo("bad.yaml: document 1: Service shop/web: spec.ports[0].port: has the wrong type"));
    }

    [Test]
    public void A_document_without_apiVersion_or_kind_is_an_error()
    {
        var set = ManifestReader.ReadText("metadata: {name: x}\n", "x.yaml");
        Assert.That(set.Errors.Single().Message, Does.Contain("apiVersion and kind are required"));
    }

    [Test]
    public void Quoted_numbers_stay_strings_and_plain_ones_become_numbers()
    {
        var set = ManifestReader.ReadText(WebService.Replace("metadata: {name: web, namespace: shop}", "metadata: {name: web, namespace: shop, annotations: {portable-lb.io/addresses: \"10\", other: true}}"), "q.yaml");
        Assert.That(set.Errors.Single().ToString(), Does.Contain("metadata.annotations.other: has the wrong type"), "an unquoted true is a bool, which Kubernetes rejects in annotations too");
        var quoted = ManifestReader.ReadText(WebService.Replace("namespace: shop}", "namespace: shop, annotations: {a: \"80\"}}"), "q.yaml");
        Assert.That(quoted.Snapshot.Services.Single().Metadata!.Annotations!["a"], Is.EqualTo("80"));
    }

    [Test]
    public void The_last_of_two_documents_for_one_object_wins_as_with_kubectl_apply()
    {
        var set = ManifestReader.ReadText(WebService + "\n---\n" + WebService.Replace("port: 80", "port: 81"), "twice.yaml");
        Assert.That(set.Snapshot.Services.Single().Spec!.Ports![0].Port, Is.EqualTo(81));
    }

    [Test]
    public void A_folder_is_read_without_recursion_and_only_manifest_files_count()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-manifests-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "b.yaml"), WebService);
            File.WriteAllText(Path.Combine(folder, "a.json"), """{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "json"}}""");
            File.WriteAllText(Path.Combine(folder, "notes.txt"), "not yaml: [");
            Directory.CreateDirectory(Path.Combine(folder, "tuning"));
            File.WriteAllText(Path.Combine(folder, "tuning", "config.yaml"), "virtualServer: {}");

            var set = ManifestReader.ReadPaths([folder]);
            Assert.That(set.Errors, Is.Empty);
            Assert.That(set.Snapshot.Services.Select(s => s.Metadata!.Name), Is.EqualTo(new[] { "json", "web" }));
            Assert.That(set.Documents, Is.EqualTo(2));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void A_missing_path_is_an_error_not_an_empty_world()
    {
        var set = ManifestReader.ReadPaths(["/nonexistent/portable-lb"]);
        Assert.That(set.Errors.Single().Message, Is.EqualTo("no such file or folder"));
    }

    [Test]
    public void The_bundled_example_is_the_thesis_setup()
    {
        var set = BundledExample.Objects();
        Assert.That(set.Errors, Is.Empty);
        Assert.That(set.Snapshot.Services.Single().Metadata!.Annotations!["portable-lb.io/addresses"], Is.EqualTo("10.1.1.0/24"));
        Assert.That(set.Snapshot.SlicesFor("default", "web").Single().Endpoints!.Select(e => e.Addresses![0]), Is.EqualTo(new[] { "172.16.21.2", "172.16.80.2" }));
    }
}
