using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Sources;

namespace PortableLb.Reconcile;

/// <summary>
/// The controller as a hosted service: runs the cluster source and the reconcile loop; on shutdown withdraws every
/// announcement and keeps keepalived serving while traffic drains (<see cref="ShutdownDrain"/>), so routers and
/// nodes move traffic first.
/// </summary>
public sealed partial class ControllerService(IClusterSource source, ReconcileLoop loop, Reconciler reconciler, ShutdownDrain drain, TimeProvider time, ILogger<ControllerService> logger)
    : BackgroundService
{
    /// <summary>
    /// Runs the source and the loop until shutdown. Either one ending early is a fault of the whole controller, seen
    /// at once: awaiting both together would leave a dead source unnoticed while the loop waits for its changes.
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var parts = new Dictionary<Task, string>
        {
            [source.RunAsync(stoppingToken)] = "the cluster source",
            [loop.RunAsync(stoppingToken)] = "the reconcile loop",
        };
        var first = await Task.WhenAny(parts.Keys).ConfigureAwait(false);
        try
        {
            await first.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        if (!stoppingToken.IsCancellationRequested) throw new InvalidOperationException($"{parts[first]} stopped on its own");
        try
        {
            await Task.WhenAll(parts.Keys).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The host calls this on SIGTERM; the kubelet's SIGKILL comes the rest of the grace period after it.
        var terminated = time.GetTimestamp();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Log.Withdrawing(logger);
        if (await reconciler.WithdrawAsync(cancellationToken).ConfigureAwait(false))
        {
            var spent = time.GetElapsedTime(terminated);
            Log.Waiting(logger, drain.Grace.TotalSeconds, ShutdownDrain.Quiet.TotalSeconds, drain.Limit.TotalSeconds, spent.TotalSeconds);
            var end = await drain.WaitAsync(spent, cancellationToken).ConfigureAwait(false);
            if (end.Quiet) Log.Drained(logger, end.Elapsed.TotalSeconds);
            else Log.DrainCutShort(logger, drain.Limit.TotalSeconds, end.Elapsed.TotalSeconds);
        }
        Log.Stopped(logger);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.Withdrawing, Level = LogLevel.Information, Message = "Shutting down: withdrawing every announcement")]
        public static partial void Withdrawing(ILogger logger);

        [LoggerMessage(EventId = LogEvents.WithdrawnWaiting, Level = LogLevel.Information,
            Message = "Announcements withdrawn {Spent:0.0} s after SIGTERM; keepalived keeps serving for {Grace} s while routers converge, then until no packet has arrived for {Quiet} s (at most until {Limit} s after SIGTERM)")]
        public static partial void Waiting(ILogger logger, double grace, double quiet, double limit, double spent);

        [LoggerMessage(EventId = LogEvents.Drained, Level = LogLevel.Information, Message = "Traffic drained {Seconds:0.0} s after the withdrawal")]
        public static partial void Drained(ILogger logger, double seconds);

        [LoggerMessage(EventId = LogEvents.Drained, Level = LogLevel.Warning,
            Message = "Stopping keepalived at the drain limit, {Limit} s after SIGTERM and {Seconds:0.0} s after the withdrawal, while packets still arrived or the grace still ran (connections still arriving here break)")]
        public static partial void DrainCutShort(ILogger logger, double limit, double seconds);

        [LoggerMessage(EventId = LogEvents.Stopped, Level = LogLevel.Information, Message = "Stopped")]
        public static partial void Stopped(ILogger logger);
    }
}
