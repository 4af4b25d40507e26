using Microsoft.Extensions.Hosting;
using PortableLb.Common;

namespace PortableLb.Cli;

/// <summary>
/// Hosts a background service and records its fault the moment its work ends in one. The host's own handling logs
/// such a fault and stops, but the process then exits 0 and nothing before the exit says what happened.
/// </summary>
public sealed class WatchedService(BackgroundService inner, string task, BackgroundFaults faults) : IHostedService, IDisposable
{
    private Task? _observer;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await inner.StartAsync(cancellationToken).ConfigureAwait(false);
        _observer = ObserveAsync(inner.ExecuteTask ?? Task.CompletedTask);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await inner.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_observer is not null) await _observer.ConfigureAwait(false);
    }

    public void Dispose() => inner.Dispose();

    private async Task ObserveAsync(Task work)
    {
        try
        {
            await work.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped on request.
        }
        catch (Exception e)
        {
            faults.Record(task, e);
        }
    }
}
