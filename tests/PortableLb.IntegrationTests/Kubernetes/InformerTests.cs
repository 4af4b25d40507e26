using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Testing.FakeApi;
using PortableLb.Kubernetes;
using k8s.Models;

namespace PortableLb.IntegrationTests.Kubernetes;

/// <summary>
/// One test per thing a real API server does to a watcher. After each, the informer's copy converges to the server's
/// true state, with no lost delete and no resurrected object.
/// </summary>
[CancelAfter(60_000)]
public sealed class InformerTests
{
    private FakeApiServer _server = null!;
    private KubernetesClient _client = null!;
    private CancellationTokenSource _stop = null!;

    private static readonly InformerOptions Fast = new()
    {
        Namespace = "default",
        IdleTimeout = TimeSpan.FromSeconds(1),
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(200),
        PageSize = 3,
    };

    [SetUp]
    public async Task StartServer()
    {
        _server = await FakeApiServer.StartAsync();
        _client = new KubernetesClient(_server.Connection());
        _stop = new CancellationTokenSource();
    }

    [TearDown]
    public async Task StopServer()
    {
        await _stop.CancelAsync();
        _client.Dispose();
        await _server.DisposeAsync();
        _stop.Dispose();
    }

    private (Informer<V1Service> Informer, Task Running) Start(InformerOptions? options = null)
    {
        var informer = new Informer<V1Service>(_client, Resources.Services, options ?? Fast, NullLogger.Instance);
        return (informer, informer.RunAsync(_stop.Token));
    }

    private string[] ServerNames(string ns = "default") =>
        _server.Store.All(Resources.Services).Where(s => s.Metadata!.NamespaceProperty == ns).Select(s => s.Metadata!.Name!).Order().ToArray();

    private static string[] Names(Informer<V1Service> informer) => informer.Items.Select(s => s.Metadata!.Name!).Order().ToArray();

    // What the informer did, as the server saw it: a black-box count of its lists, watches and refused requests.
    private int Lists() => _server.Requests.Count(r => r.Request.StartsWith("GET /api/v1/namespaces/default/services", StringComparison.Ordinal) && !r.Request.Contains("watch=true") && !r.Request.Contains("continue="));
    private int Watches() => _server.Requests.Count(r => r.Request.Contains("watch=true"));

    private async Task Converged(Informer<V1Service> informer, string what) =>
        await Eventually.True(() => Names(informer).SequenceEqual(ServerNames()), $"the informer to match the server ({what})");

    [Test]
    public async Task The_first_list_makes_it_ready_with_every_page_and_only_its_namespace()
    {
        foreach (var name in new[] { "a", "b", "c", "d", "e", "f", "g" }) _server.Store.Apply(Resources.Services, TestObjects.Service(name));
        _server.Store.Apply(Resources.Services, TestObjects.Service("elsewhere", ns: "other"));
        var (informer, _) = Start();

        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(Names(informer), Is.EqualTo(new[] { "a", "b", "c", "d", "e", "f", "g" }));
        Assert.That(_server.Requests.Count(r => r.Request.Contains("continue=")), Is.EqualTo(2), "7 objects at 3 per page");
    }

    [Test]
    public async Task It_is_not_ready_and_holds_nothing_until_a_list_succeeds()
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("a"));
        _server.FailNext(3, HttpStatusCode.InternalServerError);
        var (informer, _) = Start();

        await Eventually.True(() => _server.InjectedFailures.Count >= 1, "a failed list");
        Assert.That(informer.Ready.IsCompleted, Is.False);
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(Names(informer), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public async Task Added_modified_and_deleted_objects_are_followed()
    {
        var (informer, _) = Start();
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));

        _server.Store.Apply(Resources.Services, TestObjects.Service("a"));
        _server.Store.Apply(Resources.Services, TestObjects.Service("b"));
        await Converged(informer, "two added");
        _server.Store.Apply(Resources.Services, TestObjects.Service("a", address: "192.0.2.99"));
        await Eventually.True(() => informer.Items.Any(s => s.Metadata!.Annotations!["portable-lb.io/addresses"] == "192.0.2.99"), "the modification");
        _server.Store.Delete(Resources.Services, "default", "b");
        await Converged(informer, "one deleted");
        Assert.That(Lists(), Is.EqualTo(1), "all of that over one watch");
    }

    [TestCase(true, TestName = "A 410 as an ERROR event relists, and objects deleted meanwhile are dropped")]
    [TestCase(false, TestName = "A 410 as an HTTP status relists, and objects deleted meanwhile are dropped")]
    public async Task Gone_relists_with_synthetic_deletes(bool asErrorEvent)
    {
        _server.GoneAsErrorEvent = asErrorEvent;
        _server.Store.Apply(Resources.Services, TestObjects.Service("keep"));
        _server.Store.Apply(Resources.Services, TestObjects.Service("doomed"));
        var (informer, _) = Start();
        await Converged(informer, "initial");

        // The watch breaks; while it is down the object goes and history is compacted past it.
        _server.StallWatches();
        _server.Store.Delete(Resources.Services, "default", "doomed");
        _server.Store.Apply(Resources.Services, TestObjects.Service("new"));
        _server.ExpireResourceVersions();
        _server.DropWatches();

        await Converged(informer, "after the relist");
        Assert.That(Lists(), Is.GreaterThanOrEqualTo(2), "a relist");
        Assert.That(Names(informer), Does.Not.Contain("doomed"));
    }

    [Test]
    public async Task A_dropped_connection_rewatches_from_where_it_was_and_loses_nothing()
    {
        var (informer, _) = Start();
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        _server.StallWatches();
        _server.Store.Apply(Resources.Services, TestObjects.Service("during-the-drop"));
        _server.DropWatches();

        await Converged(informer, "after the drop");
        Assert.That(Lists(), Is.EqualTo(1), "resumed by watch, not by a new list");
    }

    [Test]
    public async Task A_stalled_stream_is_abandoned_after_the_idle_timeout_and_missed_events_arrive()
    {
        var (informer, _) = Start();
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually.True(() => _server.ActiveWatches == 1, "the watch to open");
        _server.StallWatches();
        _server.Store.Apply(Resources.Services, TestObjects.Service("sent-into-the-void"));

        await Eventually.True(() => Watches() >= 2, "an idle reconnect");
        await Converged(informer, "after the idle reconnect");
        Assert.That(Lists(), Is.EqualTo(1), "a reconnect resumes the watch; it does not relist");
    }

    [Test]
    public async Task A_broken_line_is_logged_and_answered_with_a_relist()
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("a"));
        var (informer, _) = Start();
        await Converged(informer, "initial");
        await Eventually.True(() => _server.ActiveWatches == 1, "the watch to open");
        _server.WriteBrokenLine();
        _server.Store.Apply(Resources.Services, TestObjects.Service("b"));

        await Eventually.True(() => Lists() == 2, "a relist after the bad line");
        await Converged(informer, "after the relist");
    }

    [Test]
    public async Task Bookmarks_move_the_resource_version_so_compaction_does_not_force_a_relist()
    {
        var (informer, _) = Start();
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually.True(() => _server.ActiveWatches == 1, "the watch to open");
        // Changes elsewhere move the server's version past ours; only a bookmark tells us.
        for (var i = 0; i < 5; i++) _server.Store.Apply(Resources.Services, TestObjects.Service($"x{i}", ns: "other"));
        _server.SendBookmarks();
        await Eventually.True(() => informer.ResourceVersion == _server.Store.ResourceVersion.ToString(), "the bookmark to arrive");

        _server.ExpireResourceVersions();
        _server.DropWatches();
        await Eventually.True(() => Watches() >= 2 && _server.ActiveWatches == 1, "the rewatch");
        Assert.That(Lists(), Is.EqualTo(1), "no relist");
    }

    [Test]
    public async Task Server_errors_back_off_and_honour_Retry_After()
    {
        var (informer, _) = Start();
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        _server.FailNext(1, HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromSeconds(1));
        _server.DropWatches();

        // The drop itself may count as an error first; what matters is the request that got the 429.
        await Eventually.True(() => _server.InjectedFailures.Count == 1, "the 429");
        var failedAt = _server.InjectedFailures.Single().At;
        _server.Store.Apply(Resources.Services, TestObjects.Service("after-the-pause"));
        await Converged(informer, "after the pause");
        var nextAttempt = _server.Requests.First(r => r.At > failedAt).At;
        Assert.That(nextAttempt - failedAt, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(950)), "Retry-After: 1");
    }

    [Test]
    public async Task Label_and_field_selectors_are_sent_and_honoured()
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("picked", labels: new Dictionary<string, string> { ["lb"] = "yes" }));
        _server.Store.Apply(Resources.Services, TestObjects.Service("ignored"));
        var (byLabel, _) = Start(Fast with { Selectors = new ListOptions("lb=yes") });
        var byField = new Informer<V1Service>(_client, Resources.Services, Fast with { Selectors = new ListOptions(FieldSelector: "metadata.name=ignored") }, NullLogger.Instance);
        _ = byField.RunAsync(_stop.Token);

        await Task.WhenAll(byLabel.Ready, byField.Ready).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(Names(byLabel), Is.EqualTo(new[] { "picked" }));
        Assert.That(Names(byField), Is.EqualTo(new[] { "ignored" }));

        // Relabelled out of the selection: a selective watch sees a delete.
        _server.Store.Apply(Resources.Services, TestObjects.Service("picked", labels: new Dictionary<string, string> { ["lb"] = "no" }));
        await Eventually.True(() => !byLabel.Items.Any(), "the relabelled Service to leave the selection");
    }

    [Test]
    public async Task Watches_that_expire_right_after_each_list_are_retried_with_backoff_not_in_a_tight_loop()
    {
        var (informer, _) = Start(Fast with { InitialBackoff = TimeSpan.FromMilliseconds(100), MaxBackoff = TimeSpan.FromSeconds(1) });
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        _server.WatchesExpireAtOnce = true;
        _server.DropWatches();
        var before = Lists();
        await Task.Delay(TimeSpan.FromSeconds(2));
        // Without backoff this was about 90 lists a second; with it, 100 ms doubling to 1 s allows a handful.
        Assert.That(Lists() - before, Is.InRange(1, 12));

        _server.WatchesExpireAtOnce = false;
        _server.Store.Apply(Resources.Services, TestObjects.Service("after"));
        await Converged(informer, "once watches work again");
    }

    [Test]
    public async Task Lost_access_shows_as_a_failure_with_its_start_and_clears_when_access_returns()
    {
        _server.Store.Apply(Resources.Services, TestObjects.Service("a"));
        var (informer, _) = Start();
        await informer.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(informer.CurrentFailure, Is.Null);

        var revokedAt = DateTimeOffset.UtcNow;
        _server.SetTokens("another-token");
        _server.DropWatches();
        await Eventually.True(() => informer.CurrentFailure is { AccessDenied: true }, "the 401 to be seen");
        await Task.Delay(300);
        var failure = informer.CurrentFailure!;
        Assert.That(failure.Since, Is.InRange(revokedAt, revokedAt + TimeSpan.FromSeconds(2)), "the start of the outage, not of the last attempt");
        Assert.That(failure.Error, Does.Contain("401"));
        Assert.That(Names(informer), Is.EqualTo(new[] { "a" }), "the last known objects stay");

        _server.SetTokens("test-token");
        await Eventually.True(() => informer.CurrentFailure is null, "access to return");
    }

    [Test]
    public async Task A_wrong_token_is_refused_and_never_reports_a_world()
    {
        _server.SetTokens("another-token");
        _server.Store.Apply(Resources.Services, TestObjects.Service("a"));
        var (informer, _) = Start();

        await Eventually.True(() => Lists() >= 2, "repeated 401s");
        Assert.That(informer.Ready.IsCompleted, Is.False);
        Assert.That(informer.Items, Is.Empty);
    }
}
