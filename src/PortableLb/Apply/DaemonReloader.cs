namespace PortableLb.Apply;

public enum ReloadResult { Signalled, NotRunning }

/// <summary>Makes a daemon load its new config file. The seam between deciding to reload and finding the process.</summary>
public interface IDaemonReloader
{
    Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken);
}

/// <summary>
/// The co-located layout: each daemon writes a pid file on the shared volume and gets its own reload signal
/// (keepalived SIGHUP, exabgp SIGUSR1). A daemon that is not running yet will read the new file when it starts.
/// </summary>
public sealed class PidFileReloader(IReadOnlyDictionary<Daemon, string> pidFiles, ISignalSender signals, string procRoot = "/proc") : IDaemonReloader
{
    public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
    {
        if (!pidFiles.TryGetValue(daemon, out var path) || PidFile.Find(path, daemon, procRoot) is not { } process)
        {
            return Task.FromResult(ReloadResult.NotRunning);
        }
        return Task.FromResult(signals.Send(process, DaemonSignals.Reload(daemon)) ? ReloadResult.Signalled : ReloadResult.NotRunning);
    }
}
