using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Sources;

namespace PortableLb.Reconcile;

/// <summary>
/// The controller as a hosted service: runs the cluster source and the reconcile loop; on shutdown withdraws every
/// announcement and waits the grace period while keepalived still serves, so routers move traffic first.
/// </summary>
public sealed partial class ControllerService(IClusterSource source, ReconcileLoop loop, Reconciler reconciler, TimeSpan withdrawGrace, ILogger<ControllerService> logger, TimeProvider time)
    : BackgroundService
{
    public Exception? Faulted { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.WhenAll(source.RunAsync(stoppingToken), loop.RunAsync(stoppingToken)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Faulted = e;
            Log.Crashed(logger, e);
            throw;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Log.Withdrawing(logger);
        if (await reconciler.WithdrawAsync(cancellationToken).ConfigureAwait(false))
        {
            Log.Waiting(logger, withdrawGrace.TotalSeconds);
            await Task.Delay(withdrawGrace, time, cancellationToken).ConfigureAwait(false);
        }
        Log.Stopped(logger);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.Withdrawing, Level = LogLevel.Information, Message = "Shutting down: withdrawing every announcement")]
        public static partial void Withdrawing(ILogger logger);

        [LoggerMessage(EventId = LogEvents.WithdrawnWaiting, Level = LogLevel.Information, Message = "Announcements withdrawn; keepalived keeps serving for {Seconds} s while routers converge")]
        public static partial void Waiting(ILogger logger, double seconds);

        [LoggerMessage(EventId = LogEvents.Stopped, Level = LogLevel.Information, Message = "Stopped")]
        public static partial void Stopped(ILogger logger);

        [LoggerMessage(EventId = LogEvents.ControllerFaulted, Level = LogLevel.Critical, Message = "The controller stopped")]
        public static partial void Crashed(ILogger logger, Exception error);
    }
}
