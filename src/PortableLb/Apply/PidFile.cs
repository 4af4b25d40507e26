namespace PortableLb.Apply;

/// <summary>
/// Finds a daemon through the pid file it writes on the shared volume (`shareProcessNamespace: true` makes the pid
/// valid across containers). A stale file can name a pid the kernel has since given to another process, so the
/// process's name must match before anyone signals it.
/// </summary>
public static class PidFile
{
    public static DaemonProcess? Find(string path, Daemon daemon, string procRoot = "/proc")
    {
        string text;
        try
        {
            text = File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (!int.TryParse(text, out var pid) || pid <= 1) return null;
        var comm = Path.Combine(procRoot, pid.ToString(), "comm");
        string name;
        try
        {
            name = File.ReadAllText(comm).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return name.StartsWith(ExpectedName(daemon), StringComparison.Ordinal) ? new DaemonProcess(daemon, pid) : null;
    }

    /// <summary>What /proc/PID/comm says for each daemon (exabgp is a Python script; its comm is the script's name).</summary>
    public static string ExpectedName(Daemon daemon) => daemon == Daemon.Keepalived ? "keepalived" : "exabgp";
}
