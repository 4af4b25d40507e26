using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Sources;

namespace PortableLb.IntegrationTests.Sources;

[CancelAfter(30_000)]
public sealed class ManifestFolderSourceTests
{
    private string _folder = "";
    private CancellationTokenSource _stop = null!;

    private const string Web = """
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: default}
        spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 192.0.2.10, ports: [{port: 80}]}
        """;

    [SetUp]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("portable-lb-folder-").FullName;
        _stop = new CancellationTokenSource();
    }

    [TearDown]
    public async Task Cleanup()
    {
        await _stop.CancelAsync();
        _stop.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<ManifestFolderSource> Run(TimeSpan? poll = null, ILogger<ManifestFolderSource>? logger = null)
    {
        var source = new ManifestFolderSource([_folder], logger ?? NullLogger<ManifestFolderSource>.Instance, poll);
        _ = source.RunAsync(_stop.Token);
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        return source;
    }

    private static string[] ServiceIps(ManifestFolderSource source) =>
        source.Snapshot().Services.Select(s => s.Spec!.LoadBalancerIP!).Order().ToArray();

    [Test]
    public async Task An_edited_file_changes_the_snapshot()
    {
        await File.WriteAllTextAsync(Path.Combine(_folder, "web.yaml"), Web);
        var source = await Run(poll: TimeSpan.FromMinutes(5));
        Assert.That(ServiceIps(source), Is.EqualTo(new[] { "192.0.2.10" }));

        await File.WriteAllTextAsync(Path.Combine(_folder, "web.yaml"), Web.Replace("192.0.2.10", "192.0.2.11"));
        await Eventually.True(() => ServiceIps(source).SequenceEqual(["192.0.2.11"]), "the edit to be seen through the file watcher");

        await File.WriteAllTextAsync(Path.Combine(_folder, "api.yaml"), Web.Replace("name: web", "name: api").Replace("192.0.2.10", "192.0.2.12"));
        await Eventually.True(() => ServiceIps(source).Length == 2, "a new file");
        File.Delete(Path.Combine(_folder, "api.yaml"));
        await Eventually.True(() => ServiceIps(source).SequenceEqual(["192.0.2.11"]), "the deleted file's objects to go");
    }

    [Test]
    public async Task A_broken_document_is_named_and_keeps_the_files_last_good_objects()
    {
        var file = Path.Combine(_folder, "web.yaml");
        await File.WriteAllTextAsync(file, Web);
        var logger = new RecordingLogger<ManifestFolderSource>();
        var source = await Run(poll: TimeSpan.FromMinutes(5), logger);
        await source.Changes.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        await File.WriteAllTextAsync(file, Web + "\n---\nkind: [half-saved\n");
        await Eventually.True(() => logger.Messages(LogEvents.ManifestRejected).Any(), "the broken document to be reported");

        Assert.That(logger.Messages(LogEvents.ManifestRejected).Single(), Does.StartWith($"Manifest rejected: {file}: document 2: is not valid YAML"));
        Assert.That(ServiceIps(source), Is.EqualTo(new[] { "192.0.2.10" }), "the world is not emptied");
        Assert.That(source.Changes.IsSet, Is.False, "nothing changed for the consumer");
    }

    [Test]
    public async Task Hostile_files_cost_only_themselves_and_the_source_goes_on_watching()
    {
        await File.WriteAllTextAsync(Path.Combine(_folder, "web.yaml"), Web);
        // A FIFO would block an ordinary read for ever; a bomb used to kill the process; a Secret used to be dropped.
        Assert.That(System.Diagnostics.Process.Start("mkfifo", [Path.Combine(_folder, "wedge.yaml")]).WaitForExit(5_000), Is.True);
        await File.WriteAllTextAsync(Path.Combine(_folder, "bomb.yaml"), "metadata: &m {name: x, labels: *m}\n");
        await File.WriteAllTextAsync(Path.Combine(_folder, "secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: bgp, namespace: default}\nstringData: {password: s3cret}\n");
        var logger = new RecordingLogger<ManifestFolderSource>();
        var source = await Run(poll: TimeSpan.FromMinutes(5), logger);

        Assert.That(ServiceIps(source), Is.EqualTo(new[] { "192.0.2.10" }));
        Assert.That(source.Snapshot().Secrets.Single().Metadata!.Name, Is.EqualTo("bgp"), "--objects reads Secrets for --bgp-password-secret");
        Assert.That(logger.Messages(LogEvents.ManifestRejected), Has.Some.Contains("wedge.yaml").And.Some.Contains("bomb.yaml: document 1: is refused"));
        Assert.That(source.Health().Single().Healthy, Is.True);

        await File.WriteAllTextAsync(Path.Combine(_folder, "web.yaml"), Web.Replace("192.0.2.10", "192.0.2.11"));
        await Eventually.True(() => ServiceIps(source).SequenceEqual(["192.0.2.11"]), "an edit after the hostile files to be seen");
    }

    [Test]
    public async Task The_slow_poll_catches_what_the_watcher_misses()
    {
        var nested = Path.Combine(_folder, "web.yaml");
        await File.WriteAllTextAsync(nested, Web);
        var source = await Run(poll: TimeSpan.FromMilliseconds(200));
        // Same size, older timestamp set by hand: only a rescan that compares stamps notices.
        await File.WriteAllTextAsync(nested, Web.Replace("192.0.2.10", "192.0.2.99"));
        File.SetLastWriteTimeUtc(nested, DateTime.UtcNow.AddHours(-1));
        await Eventually.True(() => ServiceIps(source).SequenceEqual(["192.0.2.99"]), "the poll");
    }

    [Test]
    public async Task It_is_ready_with_the_first_read_and_never_before()
    {
        await File.WriteAllTextAsync(Path.Combine(_folder, "web.yaml"), Web);
        var source = new ManifestFolderSource([_folder], NullLogger<ManifestFolderSource>.Instance);
        Assert.That(source.Ready.IsCompleted, Is.False);
        _ = source.RunAsync(_stop.Token);
        await source.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(source.Snapshot().Services, Has.Count.EqualTo(1));
    }
}
