namespace PortableLb.Apply;

public enum ReloadResult
{
    /// <summary>Signalled (and, where the daemon says so, confirmed loaded).</summary>
    Signalled,

    /// <summary>Not running; it will read the new file when it starts.</summary>
    NotRunning,

    /// <summary>Signalled, but it never said it loaded the new config: try again.</summary>
    Unconfirmed,
}

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

/// <summary>
/// exabgp silently drops a SIGUSR1 that arrives while it is busy (or before a peer has been sent its initial routes),
/// so a reload only counts once its log says "loaded new configuration successfully" after our signal. Until then
/// it is signalled again, a few times, and finally reported Unconfirmed so the reconcile loop retries later.
/// </summary>
public sealed class ConfirmingExabgpReloader(IDaemonReloader inner, string logPath, TimeProvider time, TimeSpan? wait = null, int attempts = 5) : IDaemonReloader
{
    public const string LoadedMessage = "loaded new configuration successfully";
    private readonly TimeSpan _wait = wait ?? TimeSpan.FromSeconds(2);

    public int Attempts { get; private set; }

    public async Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
    {
        if (daemon != Daemon.Exabgp) return await inner.ReloadAsync(daemon, cancellationToken).ConfigureAwait(false);
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            Attempts++;
            var offset = LogLength();
            var result = await inner.ReloadAsync(daemon, cancellationToken).ConfigureAwait(false);
            if (result != ReloadResult.Signalled) return result;
            if (await LoggedSinceAsync(offset, cancellationToken).ConfigureAwait(false)) return ReloadResult.Signalled;
        }
        return ReloadResult.Unconfirmed;
    }

    private long LogLength() => File.Exists(logPath) ? new FileInfo(logPath).Length : 0;

    private async Task<bool> LoggedSinceAsync(long offset, CancellationToken cancellationToken)
    {
        var deadline = time.GetTimestamp();
        while (time.GetElapsedTime(deadline) < _wait)
        {
            if (NewText(offset).Contains(LoadedMessage, StringComparison.Ordinal)) return true;
            await Task.Delay(TimeSpan.FromMilliseconds(20), time, cancellationToken).ConfigureAwait(false);
        }
        return NewText(offset).Contains(LoadedMessage, StringComparison.Ordinal);
    }

    private string NewText(long offset)
    {
        try
        {
            using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            // A rotated (shorter) log starts over.
            stream.Position = stream.Length >= offset ? offset : 0;
            return new StreamReader(stream).ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }
}
