namespace PortableLb.Reconcile;

/// <summary>How the wait after the withdrawal ended.</summary>
/// <param name="Elapsed">From the withdrawal to the end of the wait.</param>
/// <param name="Quiet">True when traffic had stopped arriving; false when the limit cut the wait short.</param>
public readonly record struct DrainEnd(TimeSpan Elapsed, bool Quiet);

/// <summary>
/// How long keepalived keeps serving after this pod withdrew its routes. At least the grace, while routers
/// converge; then for as long as packets still arrive, because a router or the node (node-routes keeps a
/// terminating pod's connections pinned to it) still sends them here, and stopping would drop them.
/// It ends once <see cref="Quiet"/> passes without a packet, or at the limit. The limit counts from SIGTERM, as the
/// kubelet's grace period does, not from the withdrawal: a withdrawal that took long (a slow exabgp reload) then
/// shortens the drain instead of pushing keepalived's stop past the SIGKILL. It wins over the grace too, for the same
/// reason. Without a packet count (no IPVS) the grace alone decides.
/// </summary>
public sealed class ShutdownDrain(Func<long?> incomingPackets, TimeSpan grace, TimeSpan limit, TimeProvider time)
{
    /// <summary>Longer than the gaps between a busy flow's packets, short enough not to hold a rollout.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    public TimeSpan Grace => grace;

    public TimeSpan Limit => limit;

    /// <param name="sinceTermination">How long ago SIGTERM came: the time the withdrawal took, which the limit counts too.</param>
    /// <param name="cancellationToken">Ends the wait at once.</param>
    public async Task<DrainEnd> WaitAsync(TimeSpan sinceTermination, CancellationToken cancellationToken)
    {
        var left = limit - sinceTermination;
        var start = time.GetTimestamp();
        var packets = incomingPackets();
        var lastPacket = start;
        while (true)
        {
            var elapsed = time.GetElapsedTime(start);
            if (elapsed >= left) return new DrainEnd(elapsed, Quiet: false);
            if (elapsed >= grace && (packets is null || time.GetElapsedTime(lastPacket) >= Quiet)) return new DrainEnd(elapsed, Quiet: true);

            var untilGrace = grace - elapsed;
            var wait = packets is null && untilGrace > TimeSpan.Zero ? untilGrace : Poll;
            await Task.Delay(Min(wait, left - elapsed), time, cancellationToken).ConfigureAwait(false);
            var now = incomingPackets();
            if (now != packets) (packets, lastPacket) = (now, time.GetTimestamp());
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
