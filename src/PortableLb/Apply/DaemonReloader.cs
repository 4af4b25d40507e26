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

/// <summary>`render`: files for daemons that do not run here; each will read its file when it starts.</summary>
public sealed class NoDaemons : IDaemonReloader
{
    public static NoDaemons Instance { get; } = new();

    public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken) => Task.FromResult(ReloadResult.NotRunning);
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

/// <summary>Each daemon reloaded its own way (how long to wait for it, how often to re-signal).</summary>
public sealed class ReloaderByDaemon(IReadOnlyDictionary<Daemon, IDaemonReloader> reloaders) : IDaemonReloader
{
    public Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken) => reloaders[daemon].ReloadAsync(daemon, cancellationToken);
}

/// <summary>How far a daemon got with the config we just signalled it to load.</summary>
public enum ReloadProgress
{
    /// <summary>No sign yet that the daemon saw the signal.</summary>
    Pending,

    /// <summary>The daemon is reading the new config; signalling again would only restart that work.</summary>
    Reading,

    /// <summary>The daemon has loaded the new config.</summary>
    Loaded,
}

/// <summary>What a daemon leaves behind when it loads a config: armed just before the signal, read after it.</summary>
public interface IReloadWitness
{
    void Arm();
    ReloadProgress Progress();
}

/// <summary>
/// exabgp logs "loaded new configuration successfully" after a reload; only a line written after our signal counts,
/// so a start-up line or the previous reload's does not.
/// </summary>
public sealed class ExabgpLogWitness(string logPath) : IReloadWitness
{
    public const string LoadedMessage = "loaded new configuration successfully";
    private long _offset;

    public void Arm() => _offset = File.Exists(logPath) ? new FileInfo(logPath).Length : 0;

    public ReloadProgress Progress() => NewText().Contains(LoadedMessage, StringComparison.Ordinal) ? ReloadProgress.Loaded : ReloadProgress.Pending;

    private string NewText()
    {
        try
        {
            using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            // A rotated (shorter) log starts over.
            stream.Position = stream.Length >= _offset ? _offset : 0;
            return new StreamReader(stream).ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }
}

/// <summary>
/// keepalived's reload_file handshake (global_defs, keepalived ≥ 2.2): we write the file non-empty before SIGHUP;
/// keepalived truncates it when it starts reading the config and deletes it when it has finished. ipvs.conf names
/// the same path (the template's `reloadFile`).
/// </summary>
public sealed class KeepalivedReloadFileWitness(string reloadFile) : IReloadWitness
{
    public void Arm() => File.WriteAllText(reloadFile, "reload requested by portable-lb\n");

    public ReloadProgress Progress()
    {
        var file = new FileInfo(reloadFile);
        if (!file.Exists) return ReloadProgress.Loaded;
        return file.Length == 0 ? ReloadProgress.Reading : ReloadProgress.Pending;
    }
}

/// <summary>
/// A signal is not a reload: exabgp silently drops a SIGUSR1 that arrives while it is busy (or before a peer has been
/// sent its initial routes), and a signal can land before a daemon installs its handler. So a reload only counts once
/// the daemon's witness says it loaded the config. A daemon that showed no sign of the signal within `wait` is
/// signalled again, a few times, and finally reported Unconfirmed so the reconcile loop retries later. One that is
/// still reading (keepalived 2.2.7 takes minutes at tens of thousands of real servers) is given `readLimit`.
/// </summary>
public sealed class ConfirmingReloader(
    IDaemonReloader inner,
    IReadOnlyDictionary<Daemon, IReloadWitness> witnesses,
    TimeProvider time,
    TimeSpan? wait = null,
    int attempts = 5,
    TimeSpan? readLimit = null) : IDaemonReloader
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);
    private readonly TimeSpan _wait = wait ?? TimeSpan.FromSeconds(2);
    private readonly TimeSpan _readLimit = readLimit ?? TimeSpan.FromMinutes(5);

    public async Task<ReloadResult> ReloadAsync(Daemon daemon, CancellationToken cancellationToken)
    {
        if (!witnesses.TryGetValue(daemon, out var witness)) return await inner.ReloadAsync(daemon, cancellationToken).ConfigureAwait(false);
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            witness.Arm();
            var result = await inner.ReloadAsync(daemon, cancellationToken).ConfigureAwait(false);
            if (result != ReloadResult.Signalled) return result;
            if (await AwaitLoadAsync(witness, cancellationToken).ConfigureAwait(false)) return ReloadResult.Signalled;
        }
        return ReloadResult.Unconfirmed;
    }

    private async Task<bool> AwaitLoadAsync(IReloadWitness witness, CancellationToken cancellationToken)
    {
        var start = time.GetTimestamp();
        while (true)
        {
            var progress = witness.Progress();
            if (progress == ReloadProgress.Loaded) return true;
            var limit = progress == ReloadProgress.Reading ? _readLimit : _wait;
            if (time.GetElapsedTime(start) >= limit) return false;
            await Task.Delay(Poll, time, cancellationToken).ConfigureAwait(false);
        }
    }
}
