namespace PortableLb.Sources;

/// <summary>One part of a source (an informer, the manifest folder): failing since how long, and why; healthy when Error is null.</summary>
public sealed record SourceHealth(string Part, string? Error, TimeSpan Failing)
{
    public bool Healthy => Error is null;

    public override string ToString() => Healthy ? $"{Part}: healthy" : $"{Part}: failing for {Failing.TotalSeconds:0} s: {Error}";
}

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

    /// <summary>Each part's health now: a source that cannot reach its objects keeps its last snapshot, and says so here.</summary>
    IReadOnlyList<SourceHealth> Health();

    Task RunAsync(CancellationToken cancellationToken);
}
