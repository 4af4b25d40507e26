using PortableLb.Common;

namespace PortableLb.Apply;

/// <summary>
/// Finds a daemon through the pid file it writes on the shared volume (`shareProcessNamespace: true` makes the pid
/// valid across containers). Both the file and the pid are untrusted: the exabgp container can write the volume, and
/// a stale file can name a pid the kernel has since given to another process. So the file is read only if it is a
/// regular file (never through a symlink, never blocking on a FIFO, at most a few bytes), and the process must be
/// exactly the daemon: its name equal, not merely a prefix (`keepalived-impostor`, `exabgpcli`), and for exabgp,
/// a Python process running the exabgp script. A zombie is not running: a daemon killed outright stays one until
/// its parent reaps it, and counting it would delay the withdrawal that its death calls for.
/// </summary>
public static class PidFile
{
    private const int MaxBytes = 32;

    public static DaemonProcess? Find(string path, Daemon daemon, string procRoot = "/proc")
    {
        if (ReadSmallRegularFile(path) is not { } text || !int.TryParse(text.Trim(), out var pid) || pid <= 1) return null;
        var process = Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            if (File.ReadAllText(Path.Combine(process, "comm")).TrimEnd('\n') != ExpectedName(daemon)) return null;
            if (daemon == Daemon.Exabgp && !RunsExabgp(File.ReadAllText(Path.Combine(process, "cmdline")))) return null;
            if (IsZombie(File.ReadAllText(Path.Combine(process, "stat")))) return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return new DaemonProcess(daemon, pid);
    }

    /// <summary>What /proc/PID/comm says for each daemon (exabgp is a Python script; its comm is the script's name).</summary>
    public static string ExpectedName(Daemon daemon) => daemon == Daemon.Keepalived ? "keepalived" : "exabgp";

    /// <summary>/proc/PID/stat is "pid (comm) state …"; comm may itself hold ") ", so the state follows the last one.</summary>
    private static bool IsZombie(string stat)
    {
        var end = stat.LastIndexOf(") ", StringComparison.Ordinal);
        return end < 0 || stat.Length <= end + 2 || stat[end + 2] is 'Z' or 'X';
    }

    /// <summary>`python3 /usr/sbin/exabgp …` or `exabgp …`: the script itself, not a tool whose name starts the same.</summary>
    private static bool RunsExabgp(string cmdline)
    {
        var argv = cmdline.Split('\0');
        return argv.Take(2).Any(a => Path.GetFileName(a) == "exabgp");
    }

    /// <returns>The file's text; null when it is missing, not a regular file, a symlink, or longer than a pid.</returns>
    private static string? ReadSmallRegularFile(string path)
    {
        try
        {
            return RegularFile.ReadText(path, MaxBytes, followSymlinks: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
