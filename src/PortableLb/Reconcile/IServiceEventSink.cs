using PortableLb.Model;

namespace PortableLb.Reconcile;

/// <summary>Where a Service's problems are reported so `kubectl describe service` shows them.</summary>
public interface IServiceEventSink
{
    Task ReportAsync(ServiceName service, string reason, string note, CancellationToken cancellationToken);
}
