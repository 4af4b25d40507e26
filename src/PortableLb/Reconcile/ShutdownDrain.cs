namespace PortableLb.Reconcile;

/// <summary>How the wait after the withdrawal ended.</summary>
/// <param name="Elapsed">From the withdrawal to the end of the wait.</param>
/// <param name="Quiet">True when traffic had stopped arriving; false when the limit cut the wait short.</param>
public readonly record struct DrainEnd(TimeSpan Elapsed, bool Quiet);

/// <summary>
/// How long keepalived keeps serving after this pod withdrew its routes. At least the grace, while routers
/// converge; then for as long as packets still arrive, because a router or the node (node-routes keeps a
/// terminating pod's connections pinned to it) still sends them here, and stopping would drop them.
/// It ends once <see cref="Quiet"/> passes without a packet, or at the limit, which keeps the whole termination
/// inside the pod's grace period. Without a packet count (no IPVS) the grace alone decides.
/// </summary>
public sealed class ShutdownDrain(Func<long?> incomingPackets, TimeSpan grace, TimeSpan limit, TimeProvider time)
{
    /// <summary>Longer than the gaps between a busy flow's packets, short enough not to hold a rollout.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    public TimeSpan Grace => grace;

    public TimeSpan Limit => limit;

    public async Task<DrainEnd> WaitAsync(CancellationToken cancellationToken)
    {
        var start = time.GetTimestamp();
        var packets = incomingPackets();
        var lastPacket = start;
        while (true)
        {
            var elapsed = time.GetElapsedTime(start);
            if (elapsed >= limit) return new DrainEnd(elapsed, Quiet: false);
            if (elapsed >= grace && (packets is null || time.GetElapsedTime(lastPacket) >= Quiet)) return new DrainEnd(elapsed, Quiet: true);

            var untilGrace = grace - elapsed;
            var wait = packets is null && untilGrace > TimeSpan.Zero ? untilGrace : Poll;
            await Task.Delay(Min(wait, limit - elapsed), time, cancellationToken).ConfigureAwait(false);
            var now = incomingPackets();
            if (now != packets) (packets, lastPacket) = (now, time.GetTimestamp());
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
