using System.Net;
using PortableLb.Model;

namespace PortableLb.Cli;

public enum KeepalivedLayout { Supervise, Pidfile }

/// <summary>`portable-lb run`'s settings, after parsing and validation; see the CLI contract.</summary>
public sealed record RunOptions(
    IReadOnlyList<string> Objects,
    string? Kubeconfig,
    string? Context,
    IReadOnlyList<ServiceName> Services,
    string? ServiceSelector,
    string? TuningFile,
    (string Namespace, string Name)? TuningConfigMap,
    IReadOnlyList<IPAddress> NodeIps,
    IReadOnlyList<IPAddress> PodIps,
    string ConfigDirectory,
    string? TemplatesDirectory,
    KeepalivedLayout Keepalived,
    string KeepalivedPidFile,
    string ExabgpPidFile,
    string? ExabgpLog,
    TimeSpan WithdrawGrace,
    IPEndPoint Listen,
    TimeSpan Debounce)
{
    /// <summary>Manage local routes, packet marks and IPVS sysctls in this network namespace (off for tests on a shared host).</summary>
    public bool ManageDataPlane { get; init; } = true;

    /// <summary>The Secret (data key `password`) with the BGP TCP-MD5 password: NAME in the watched namespace, or NS/NAME with --objects.</summary>
    public string? BgpPasswordSecret { get; init; }
}
