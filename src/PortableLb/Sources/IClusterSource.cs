namespace PortableLb.Sources;

/// <summary>
/// Where objects come from: the API server, or a folder of manifests. A source runs in the background, says
/// "something changed" through its signal, and hands out whole immutable snapshots; it never reports an empty
/// world before its first complete read.
/// </summary>
public interface IClusterSource
{
    /// <summary>Completes once every part of the source has been read completely at least once.</summary>
    Task Ready { get; }

    /// <summary>Set on every change; the consumer waits on it and then takes a fresh snapshot (bursts coalesce).</summary>
    ChangeSignal Changes { get; }

    ClusterSnapshot Snapshot();

    Task RunAsync(CancellationToken cancellationToken);
}
