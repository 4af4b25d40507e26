using System.Net;

namespace PortableLb.Cli;

public enum KeepalivedLayout { Supervise, Pidfile }

/// <summary>`portable-lb run`'s settings, after parsing and validation; see the README's CLI contract.</summary>
public sealed record RunOptions(
    CommonValues Common,
    string? Kubeconfig,
    string? Context,
    string? ServiceSelector,
    string ConfigDirectory,
    KeepalivedLayout Keepalived,
    string KeepalivedPidFile,
    string ExabgpPidFile,
    string? ExabgpLog,
    TimeSpan WithdrawGrace,
    TimeSpan DrainLimit,
    IPEndPoint Listen,
    TimeSpan Debounce)
{
    /// <summary>This LB pod's name: its identity in the leader election for writing Service status.</summary>
    public string PodName { get; init; } = Environment.MachineName;

    /// <summary>Manage local routes and packet marks in this network namespace (off for tests on a shared host).</summary>
    public bool ManageDataPlane { get; init; } = true;

    /// <summary>Serve Services in every namespace; the tuning, the password Secret and the Lease stay in the pod's own.</summary>
    public bool AllNamespaces { get; init; }
}
