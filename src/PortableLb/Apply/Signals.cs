using System.Runtime.InteropServices;

namespace PortableLb.Apply;

public enum Daemon { Keepalived, Exabgp }

/// <summary>The signals PortableLb sends, by what they mean rather than by number.</summary>
public enum Signal
{
    /// <summary>SIGHUP: keepalived reloads its configuration.</summary>
    Hangup = 1,

    /// <summary>SIGUSR1: exabgp reloads its configuration.</summary>
    User1 = 10,

    /// <summary>SIGTERM: stop.</summary>
    Terminate = 15,
}

/// <summary>A daemon process, known by what it is: the signal rules depend on that.</summary>
public readonly record struct DaemonProcess(Daemon Daemon, int Pid);

/// <summary>Delivers signals; the seam tests record through.</summary>
public interface ISignalSender
{
    /// <exception cref="ForbiddenSignalException">The signal would do harm to that daemon (SIGHUP to exabgp).</exception>
    /// <returns>False when the process no longer exists.</returns>
    bool Send(DaemonProcess target, Signal signal);
}

public sealed class ForbiddenSignalException(DaemonProcess target, Signal signal)
    : Exception($"refusing to send {signal} to {target.Daemon} (pid {target.Pid}): exabgp treats SIGHUP as shut down, which withdraws every route");

public static class DaemonSignals
{
    /// <summary>Each daemon's reload signal. exabgp 4 reloads on SIGUSR1; SIGHUP would shut it down.</summary>
    public static Signal Reload(Daemon daemon) => daemon switch
    {
        Daemon.Keepalived => Signal.Hangup,
        Daemon.Exabgp => Signal.User1,
        _ => throw new ArgumentOutOfRangeException(nameof(daemon)),
    };

    /// <summary>The one rule every sender enforces before anything reaches the kernel.</summary>
    public static void Check(DaemonProcess target, Signal signal)
    {
        if (target.Daemon == Daemon.Exabgp && signal == Signal.Hangup) throw new ForbiddenSignalException(target, signal);
    }
}

/// <summary>libc kill(2), called directly rather than by spawning `kill`: no fork per reload, and errno is ours to read.</summary>
public sealed partial class LibcSignalSender : ISignalSender
{
    private const int NoSuchProcess = 3; // ESRCH

    public bool Send(DaemonProcess target, Signal signal)
    {
        DaemonSignals.Check(target, signal);
        if (target.Pid <= 1) throw new ArgumentOutOfRangeException(nameof(target), $"pid {target.Pid} is never a daemon of ours");
        if (Kill(target.Pid, (int)signal) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == NoSuchProcess) return false;
        throw new InvalidOperationException($"kill({target.Pid}, {signal}) failed: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
