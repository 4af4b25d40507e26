using PortableLb.Model;

namespace PortableLb.Reconcile;

/// <summary>Where a Service's story is told so `kubectl describe service` shows it: problems as Warnings, what was done as Normal.</summary>
public interface IServiceEventSink
{
    Task ReportAsync(ServiceName service, string reason, string note, CancellationToken cancellationToken, bool warning = true);
}

/// <summary>Takes the latest Service status plan after each reconcile; whoever leads writes it.</summary>
public interface IServiceStatusSink
{
    void Offer(StatusPlan plan);
}
