using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Kubernetes;
using PortableLb.Testing.FakeApi;

namespace PortableLb.IntegrationTests.Kubernetes;

/// <summary>
/// Three candidates on one Lease of the fake API server, on client-go's timings scaled down (the Lease holds its
/// duration in whole seconds, so 2 s; renew deadline 1 s, retry 0.2 s). Each candidate
/// "writes" (records a write with the term it believes it leads) every 20 ms while Current says it leads; a leader is
/// cut off from the API by revoking its token, as a partition or a hung node would.
/// </summary>
[CancelAfter(120_000)]
public sealed class LeaderElectionTests
{
    private static readonly string[] Pods = ["lb-a", "lb-b", "lb-c"];

    private FakeApiServer _api = null!;
    // NUnit runs every test of a fixture on one instance: SetUp makes these afresh.
    private List<(LeaderElector Elector, KubernetesClient Client, CancellationTokenSource Stop, Task Run, Task Writer)> _candidates = [];
    private ConcurrentQueue<(long At, string Identity, int Term)> _writes = new();
    private HashSet<string> _tokens = [];

    private static LeaderElectionOptions Options(string pod) => new("portable-lb", "portable-lb-status", pod)
    {
        LeaseDuration = TimeSpan.FromSeconds(2),
        RenewDeadline = TimeSpan.FromSeconds(1),
        RetryPeriod = TimeSpan.FromSeconds(0.2),
    };

    [SetUp]
    public async Task Setup()
    {
        (_candidates, _writes, _tokens) = ([], new(), [.. Pods]);
        _api = await FakeApiServer.StartAsync(new FakeApiServerOptions { Tokens = Pods });
        foreach (var pod in Pods)
        {
            var client = new KubernetesClient(_api.Connection(pod, "portable-lb"));
            var elector = new LeaderElector(client, Options(pod), NullLogger.Instance);
            var stop = new CancellationTokenSource();
            _candidates.Add((elector, client, stop, elector.RunAsync(stop.Token), WriteWhileLeadingAsync(elector, stop.Token)));
        }
    }

    [TearDown]
    public async Task Cleanup()
    {
        foreach (var candidate in _candidates)
        {
            await candidate.Stop.CancelAsync();
            await candidate.Run;
            await candidate.Writer;
            candidate.Client.Dispose();
            candidate.Stop.Dispose();
        }
        await _api.DisposeAsync();
    }

    private async Task WriteWhileLeadingAsync(LeaderElector elector, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (elector.Current is { } term) _writes.Enqueue((Stopwatch.GetTimestamp(), term.Identity, term.Transition));
            try
            {
                await Task.Delay(20, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private LeaderElector[] Leaders() => _candidates.Select(c => c.Elector).Where(e => e.Current is not null).ToArray();

    private async Task<LeaderElector> OneLeaderAsync(TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (Leaders() is [var leader]) return leader;
            if (clock.Elapsed > within) Assert.Fail($"no single leader after {within.TotalSeconds} s: {Leaders().Length} lead");
            await Task.Delay(20);
        }
    }

    private void CutOff(LeaderElector elector)
    {
        _tokens.Remove(elector.Identity);
        _api.SetTokens([.. _tokens]);
    }

    [Test]
    public async Task One_candidate_leads_and_a_leader_cut_off_twice_is_replaced_within_the_lease_without_two_writers_in_a_term()
    {
        var first = await OneLeaderAsync(TimeSpan.FromSeconds(5));
        await Task.Delay(1_000);
        Assert.That(Leaders(), Is.EqualTo(new[] { first }), "the leader renews and keeps its term");

        var takeovers = new List<TimeSpan>();
        var leader = first;
        for (var round = 0; round < 2; round++)
        {
            var cut = Stopwatch.StartNew();
            CutOff(leader);
            var next = await OneLeaderAsync(TimeSpan.FromSeconds(10));
            while (next == leader)
            {
                await Task.Delay(20);
                next = await OneLeaderAsync(TimeSpan.FromSeconds(10));
            }
            takeovers.Add(cut.Elapsed);
            leader = next;
        }
        await Task.Delay(500);
        await TestContext.Out.WriteLineAsync($"takeovers after the cut: {string.Join(", ", takeovers.Select(t => $"{t.TotalSeconds:0.00} s"))}");

        // Another takes over once the record has stood still for the lease duration (2 s), plus at most a retry.
        Assert.That(takeovers, Is.All.LessThan(TimeSpan.FromSeconds(2 + 2 * 0.2 * 2.2 + 0.5)));

        var writes = _writes.ToArray();
        var terms = writes.GroupBy(w => w.Term).OrderBy(g => g.Key).ToList();
        var start = writes.Min(w => w.At);
        await TestContext.Out.WriteLineAsync(string.Join("\n", terms.Select(t =>
            $"term {t.Key}: {string.Join("/", t.Select(w => w.Identity).Distinct())} writes from {Stopwatch.GetElapsedTime(start, t.Min(w => w.At)).TotalSeconds:0.000} s to {Stopwatch.GetElapsedTime(start, t.Max(w => w.At)).TotalSeconds:0.000} s")));
        Assert.That(terms.Select(t => t.Select(w => w.Identity).Distinct().Count()), Is.All.EqualTo(1), "one writer per term");
        Assert.That(terms, Has.Count.EqualTo(3), "three terms: the first leader and two takeovers");
        for (var i = 1; i < terms.Count; i++)
        {
            Assert.That(terms[i].Min(w => w.At), Is.GreaterThan(terms[i - 1].Max(w => w.At)), $"term {terms[i].Key} starts writing after term {terms[i - 1].Key} stopped");
        }
        Assert.That(writes.Where(w => w.Identity == first.Identity).Max(w => w.At), Is.LessThan(terms[1].Min(w => w.At)));
    }

    [Test]
    public async Task A_leader_that_shuts_down_releases_the_lease_and_the_next_takes_over_without_waiting_out_the_lease()
    {
        var leader = await OneLeaderAsync(TimeSpan.FromSeconds(5));
        var candidate = _candidates.Single(c => c.Elector == leader);
        var stopped = Stopwatch.StartNew();
        await candidate.Stop.CancelAsync();
        await candidate.Run;
        var next = await OneLeaderAsync(TimeSpan.FromSeconds(5));
        Assert.That(next, Is.Not.SameAs(leader));
        Assert.That(stopped.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "released: no wait for the lease to expire");
        var lease = _api.Store.All(Resources.Leases).Single();
        Assert.That(lease.Spec.HolderIdentity, Is.EqualTo(next.Identity));
        Assert.That(lease.Spec.LeaseTransitions, Is.EqualTo(1));
    }
}
