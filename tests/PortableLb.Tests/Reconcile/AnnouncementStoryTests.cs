using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Apply;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Reconcile;

public sealed class AnnouncementStoryTests
{
    private static readonly ServiceName Web = new("default", "web");
    private static readonly ServiceName Api = new("default", "api");
    private const string Ready = "[{addresses: [10.244.1.1]}]";

    private static DesiredState Live(string yaml) => Build(yaml, WithPeer, Node).State;

    private static HashSet<ServiceName> Names(params ServiceName[] names) => [.. names];

    private static string[] Lines(IEnumerable<StoryEvent> events) => [.. events.Select(e => $"{e.Service} {e.Reason}: {e.Note}")];

    [Test]
    public void Each_change_of_what_a_Service_announces_is_told_once_and_only_a_change_is_told_again()
    {
        var story = new AnnouncementStory("lb-a");
        var both = Live(Service("web", address: "192.0.2.10") + Slice("web", Ready) + Service("api", address: "192.0.2.20") + Slice("api", Ready));
        Assert.That(Lines(story.Tell(both, Names(Web, Api), Names(Web, Api))), Is.EqualTo(new[]
        {
            "default/api Announced: lb-a announces 192.0.2.20/32 (next hop 192.0.2.1) over BGP",
            "default/web Announced: lb-a announces 192.0.2.10/32 (next hop 192.0.2.1) over BGP",
        }));
        Assert.That(story.Tell(both, Names(Web, Api), Names(Web, Api)), Is.Empty, "nothing changed");

        // web's endpoints go (announce: whenServing withdraws it); api moves to a new address.
        var after = Live(Service("web", address: "192.0.2.10") + Service("api", address: "192.0.2.21") + Slice("api", Ready));
        Assert.That(Lines(story.Tell(after, Names(Web, Api), Names(Web, Api))), Is.EqualTo(new[]
        {
            "default/api Announced: lb-a announces 192.0.2.21/32 (next hop 192.0.2.1) over BGP",
            "default/web Withdrawn: lb-a withdrew 192.0.2.10/32: nothing of it is served from this pod (no ready endpoint, or keepalived has yet to program it)",
        }));

        // web comes back: the same Announced as the first time is told again, because it changed in between.
        Assert.That(Lines(story.Tell(both, Names(Web, Api), Names(Web, Api))), Has.Some.StartWith("default/web Announced:"));
    }

    [Test]
    public void A_Service_that_is_no_longer_ours_says_so_and_a_deleted_one_gets_no_Event()
    {
        var story = new AnnouncementStory("lb-a");
        story.Tell(Live(Service("web", address: "192.0.2.10") + Slice("web", Ready) + Service("api", address: "192.0.2.20") + Slice("api", Ready)), Names(Web, Api), Names(Web, Api));
        var events = story.Tell(Live(""), Names(), Names(Web));
        Assert.That(Lines(events), Is.EqualTo(new[]
        {
            "default/web Withdrawn: lb-a withdrew 192.0.2.10/32: it is no longer served: not a LoadBalancer of class portable-lb.io/ipvs, or rejected (see its Warnings)",
        }), "api was deleted: nobody could read an Event on it");
    }

    [Test]
    public void Two_Services_sharing_an_address_each_hear_of_it()
    {
        var story = new AnnouncementStory("lb-a");
        var shared = Live(Service("web", address: "192.0.2.10").Replace("annotations: {", "annotations: {\"portable-lb.io/allow-shared-ip\": \"k\", ") + Slice("web", Ready)
            + Service("api", address: "192.0.2.10", ports: "[{name: http, port: 81}]").Replace("annotations: {", "annotations: {\"portable-lb.io/allow-shared-ip\": \"k\", ") + Slice("api", Ready, ports: "[{name: http, port: 8081}]"));
        Assert.That(story.Tell(shared, Names(Web, Api), Names(Web, Api)).Select(e => e.Service), Is.EquivalentTo(new[] { Web, Api }));
    }

    /// <summary>The loop tells the story only once exabgp has confirmed loading the config that carries it.</summary>
    [Test]
    [CancelAfter(20_000)]
    public async Task The_loop_tells_Announced_only_after_exabgp_confirms_the_config()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-story-").FullName;
        using var stop = new CancellationTokenSource();
        try
        {
            var source = new ReadySource(FromYaml(Service("web", address: "192.0.2.10") + Slice("web", Ready)));
            var reloader = new ExabgpConfirmsLate();
            var reconciler = new Reconciler(TemplateSet.Embedded(), new SkippedValidation("keepalived"), new SkippedValidation("exabgp"), reloader, new ConfigFiles(folder));
            var events = new RecordingEvents();
            var loop = new ReconcileLoop(source, new Fixed(WithPeer), reconciler, Node, null, ReconcileLoopOptions.Default with { Resync = Timeout.InfiniteTimeSpan },
                new ReconcileStatus(), NullLogger<ReconcileLoop>.Instance, events: events, story: new AnnouncementStory("lb-a"));
            var running = Task.Run(() => loop.RunAsync(stop.Token));

            while (reloader.ExabgpCalls < 1) await Task.Delay(10);
            await Task.Delay(100);
            Assert.That(events.Told, Is.Empty, "exabgp has not confirmed: its peers still hear the old routes");
            while (events.Told.Count == 0) await Task.Delay(10);
            Assert.That(reloader.ExabgpCalls, Is.EqualTo(2), "told after the retried reload was confirmed");
            Assert.That(events.Told.Single(), Is.EqualTo((Web, "Announced", false)));
            await stop.CancelAsync();
            await running;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed class ReadySource(ClusterSnapshot snapshot) : IClusterSource
    {
        public Task Ready => Task.CompletedTask;
        public ChangeSignal Changes { get; } = new();
        public ClusterSnapshot Snapshot() => snapshot;
        public IReadOnlyList<SourceHealth> Health() => [];
        public Task RunAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class Fixed(TuningSettings settings) : ITuningProvider
    {
        public (TuningSettings Tuning, IReadOnlyList<TuningError> Errors) Current(ClusterSnapshot snapshot) => (settings, []);
    }

    /// <summary>keepalived confirms at once; exabgp not the first time (a peer was down, say), then it does.</summary>
    private sealed class ExabgpConfirmsLate : IDaemonReloader
    {
        public int ExabgpCalls;

        public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
        {
            if (daemon != Daemon.Exabgp) return Task.FromResult(ReloadResult.Signalled);
            return Task.FromResult(Interlocked.Increment(ref ExabgpCalls) == 1 ? ReloadResult.Unconfirmed : ReloadResult.Signalled);
        }
    }

    private sealed class RecordingEvents : IServiceEventSink
    {
        public List<(ServiceName, string, bool)> Told { get; } = [];

        public Task ReportAsync(ServiceName service, string reason, string note, CancellationToken cancellationToken, bool warning = true)
        {
            lock (Told) Told.Add((service, reason, warning));
            return Task.CompletedTask;
        }
    }
}
