using System.Diagnostics;
using PortableLb.Sources;

namespace PortableLb.Tests.Sources;

/// <summary>
/// Documents built to hurt the reader. Each must cost only itself: an error naming the file, the document and the
/// limit, quickly and in little memory, with the other documents of the same file still read.
/// </summary>
[CancelAfter(60_000)]
public sealed class HostileManifestTests
{
    private const string Web = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n";

    public static IEnumerable<TestCaseData> Bombs()
    {
        yield return new TestCaseData("metadata: &m {name: x, labels: *m}\n", "refers to a node that contains it").SetName("a self-referencing alias (64 bytes; was a stack overflow)");
        yield return new TestCaseData("a: &x 1\nb: &x [*x]\n", "refers to a node that contains it").SetName("an anchor given again, referred to from inside its new node");
        yield return new TestCaseData(HostileCorpus.BillionLaughs(), "expands to more than 2,000,000 nodes").SetName("billion laughs (was 17.6 GB at 120 s)");
        yield return new TestCaseData(new string('[', 200_000), "nests deeper than 64 levels").SetName("200,000 open brackets");
        yield return new TestCaseData(string.Concat(Enumerable.Repeat("{\"a\":", 5_000)) + "1" + new string('}', 5_000), "nests deeper than 64 levels").SetName("JSON 5,000 levels deep");
        yield return new TestCaseData("a: &a [" + string.Join(",", Enumerable.Repeat("\"" + new string('x', 1_000_000) + "\"", 1)) + "]\nb: [" + string.Join(",", Enumerable.Repeat("*a", 100)) + "]\n", "expands to more than 64 MiB of text").SetName("a long string repeated by aliases");
    }

    [TestCaseSource(nameof(Bombs))]
    public void A_bomb_costs_its_document_only(string bomb, string limit)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.StartNew();
        var set = ManifestReader.ReadText(Web + "---\n" + bomb + "\n---\n" + Web.Replace("name: web", "name: api"), "bomb.yaml");
        Assert.That(set.Errors.Single().ToString(), Does.StartWith("bomb.yaml: document 2: is refused (line ").And.Contain(limit));
        Assert.That(set.Snapshot.Services.Select(s => s.Metadata!.Name), Is.EqualTo(new[] { "web", "api" }));
        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1L << 30), "bytes allocated");
    }

    [Test]
    public void Windows_line_ends_keep_every_document()
    {
        var text = (Web + "---\n" + Web.Replace("name: web", "name: api")).ReplaceLineEndings("\r\n");
        var set = ManifestReader.ReadText(text, "crlf.yaml");
        Assert.That(set.Errors, Is.Empty);
        Assert.That(set.Snapshot.Services.Select(s => s.Metadata!.Name), Is.EqualTo(new[] { "web", "api" }));
    }

    [TestCase("apiVersion: v1\nkind: Service\nmetadata: {name: web, name: again}\n", "document 1")]
    [TestCase("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 99999999999999999999}]}\n", "document 1")]
    [TestCase("apiVersion: v1\nkind: Service\nmetadata: {name: web, creationTimestamp: yesterday}\n", "document 1")]
    [TestCase("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: \"not base64!\"}\n", "document 1")]
    public void A_document_that_breaks_the_models_is_an_error_of_its_own(string document, string where)
    {
        var set = ManifestReader.ReadText(document + "---\n" + Web, "odd.yaml");
        Assert.That(set.Errors.Single().ToString(), Does.StartWith($"odd.yaml: {where}: "));
        Assert.That(set.Snapshot.Services.Select(s => s.Metadata!.Name), Has.Member("web"));
    }

    [TestCase("discovery.k8s.io/v1beta1", "EndpointSlice", "discovery.k8s.io/v1")]
    [TestCase("v2", "Service", "v1")]
    public void A_kind_we_read_in_a_version_we_do_not_is_skipped_with_a_warning(string apiVersion, string kind, string read)
    {
        var set = ManifestReader.ReadText($"apiVersion: {apiVersion}\nkind: {kind}\nmetadata: {{name: old, namespace: shop}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\n", "old.yaml");
        Assert.That(set.Errors, Is.Empty);
        Assert.That(set.Warnings.Single().ToString(), Is.EqualTo($"old.yaml: document 1: {kind} shop/old: apiVersion {apiVersion} is not read (PortableLb reads {read}); skipped"));
    }

    [Test]
    public void A_file_past_the_size_bound_is_refused_unread()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-big-").FullName;
        try
        {
            var big = Path.Combine(folder, "big.yaml");
            using (var stream = File.Create(big)) stream.SetLength(ManifestReader.MaxFileBytes + 1); // sparse: no disk used
            File.WriteAllText(Path.Combine(folder, "web.yaml"), Web);
            var set = ManifestReader.ReadPaths([folder]);
            Assert.That(set.Errors.Single().ToString(), Is.EqualTo($"{big}: document 0: is larger than the 64 MiB a manifest file may be"));
            Assert.That(set.Snapshot.Services, Has.Count.EqualTo(1));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
