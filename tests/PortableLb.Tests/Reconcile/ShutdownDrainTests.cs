using PortableLb.Apply;
using PortableLb.Reconcile;

namespace PortableLb.Tests.Reconcile;

/// <summary>The wait between the withdrawal and keepalived's stop, on virtual time, with IPVS's packet count scripted.</summary>
[CancelAfter(20_000)]
public sealed class ShutdownDrainTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Runs the drain with a packet count that grows by one per look while <paramref name="arriving"/> holds at that
    /// virtual time, after a withdrawal that took <paramref name="withdrawal"/> from SIGTERM.
    /// </summary>
    private static async Task<DrainEnd> DrainAsync(Func<TimeSpan, bool> arriving, bool ipvs = true, TimeSpan withdrawal = default)
    {
        var time = new CountingTime();
        var start = time.GetUtcNow();
        long packets = 0;
        var drain = new ShutdownDrain(() => ipvs ? (arriving(time.GetUtcNow() - start) ? ++packets : packets) : null, Grace, Limit, time);
        var wait = drain.WaitAsync(withdrawal, CancellationToken.None);
        await time.RunUntilAsync(wait, Step, Limit + TimeSpan.FromSeconds(5));
        return await wait;
    }

    [Test]
    public async Task Without_traffic_keepalived_stops_when_the_grace_ends()
    {
        var end = await DrainAsync(_ => false);
        Assert.That(end.Quiet, Is.True);
        Assert.That(end.Elapsed, Is.InRange(Grace, Grace + TimeSpan.FromMilliseconds(250)));
    }

    [Test]
    public async Task Traffic_that_still_arrives_after_the_grace_holds_keepalived_until_it_has_been_quiet_for_two_seconds()
    {
        var stops = TimeSpan.FromSeconds(8);
        var end = await DrainAsync(t => t < stops);
        Assert.That(end.Quiet, Is.True);
        // Packets are seen at each look (every 200 ms), so the quiet counts from the last look that saw one.
        Assert.That(end.Elapsed, Is.InRange(stops + ShutdownDrain.Quiet - TimeSpan.FromMilliseconds(200), stops + ShutdownDrain.Quiet + TimeSpan.FromMilliseconds(250)));
    }

    [Test]
    public async Task Traffic_that_stops_inside_the_grace_does_not_shorten_it()
    {
        var end = await DrainAsync(t => t < TimeSpan.FromSeconds(1));
        Assert.That(end.Elapsed, Is.InRange(Grace, Grace + TimeSpan.FromMilliseconds(250)));
    }

    [Test]
    public async Task Traffic_that_never_stops_is_cut_at_the_limit()
    {
        var end = await DrainAsync(_ => true);
        Assert.That(end.Quiet, Is.False);
        Assert.That(end.Elapsed, Is.EqualTo(Limit));
    }

    [Test]
    public async Task A_withdrawal_that_took_long_shortens_the_drain_so_keepalived_still_stops_by_the_limit_after_SIGTERM()
    {
        // The kubelet counts its grace period from SIGTERM: a slow exabgp reload must not push the stop past it.
        var withdrawal = TimeSpan.FromSeconds(8);
        var end = await DrainAsync(_ => true, withdrawal: withdrawal);
        Assert.That(end, Is.EqualTo(new DrainEnd(Limit - withdrawal, Quiet: false)));
    }

    [Test]
    public async Task The_limit_after_SIGTERM_wins_over_the_grace_after_the_withdrawal()
    {
        var withdrawal = Limit - TimeSpan.FromSeconds(2);
        var end = await DrainAsync(_ => false, withdrawal: withdrawal);
        Assert.That(end, Is.EqualTo(new DrainEnd(TimeSpan.FromSeconds(2), Quiet: false)), "the grace (5 s) would have ended later than the limit");
        Assert.That(await DrainAsync(_ => false, withdrawal: Limit + TimeSpan.FromSeconds(1)), Is.EqualTo(new DrainEnd(TimeSpan.Zero, Quiet: false)), "the limit had passed already");
    }

    [Test]
    public async Task Without_IPVS_there_is_no_count_to_watch_and_the_grace_alone_decides()
    {
        var end = await DrainAsync(_ => true, ipvs: false);
        Assert.That(end, Is.EqualTo(new DrainEnd(Grace, Quiet: true)));
    }

    [Test]
    public void The_incoming_packet_total_is_read_from_the_kernels_hexadecimal_totals()
    {
        const string stats = """
               Total Incoming Outgoing         Incoming         Outgoing
               Conns  Packets  Packets            Bytes            Bytes
                  1C      2B1      1F0            2A3C1            3B0E2

             Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
                   0        0        0                0                0

            """;
        Assert.That(IpvsTraffic.ParseIncomingPackets(stats), Is.EqualTo(0x2B1));
        Assert.That(IpvsTraffic.ParseIncomingPackets("garbage\n"), Is.Null);
        Assert.That(IpvsTraffic.IncomingPackets(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("n"))), Is.Null, "no IPVS: no file");
    }
}
