using Microsoft.Extensions.Hosting;
using PortableLb.Model;
using PortableLb.Sources;

namespace PortableLb.Apply;

/// <summary>
/// Watches what this pod actually serves: keepalived's liveness (its pid file) and the kernel's IPVS table
/// (/proc/net/ip_vs, in this network namespace, which the pod shares with keepalived). A change wakes the reconcile
/// loop through the same signal the cluster sources use, so a dead keepalived is withdrawn within one poll plus one
/// exabgp reload. The table is read every second, and every 100 ms for a while after a new ipvs.conf, when the next
/// announcement waits on it.
/// </summary>
public sealed class ServingMonitor(string keepalivedPidFile, ChangeSignal changes, TimeProvider time, string procNetIpVs = "/proc/net/ip_vs", string procRoot = "/proc")
    : BackgroundService
{
    private static readonly TimeSpan LivenessPoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan TablePoll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ExpediteFor = TimeSpan.FromSeconds(30);
    private volatile ServingFacts _current = Read(keepalivedPidFile, procNetIpVs, procRoot);
    private long _expediteUntil;

    public ServingFacts Current => _current;

    /// <summary>Whether this kernel has IPVS at all (the ip_vs module loaded); without it nothing can be served.</summary>
    public bool IpvsAvailable => _current.Ipvs is not null;

    /// <summary>A new ipvs.conf went out: look at the table often until keepalived has had time to program it.</summary>
    public void Expedite() => Interlocked.Exchange(ref _expediteUntil, time.GetTimestamp() + (long)(ExpediteFor.TotalSeconds * time.TimestampFrequency));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastTable = time.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(LivenessPoll, time, stoppingToken).ConfigureAwait(false);
            var readTable = time.GetTimestamp() < Interlocked.Read(ref _expediteUntil) || time.GetElapsedTime(lastTable) >= TablePoll;
            var running = PidFile.Find(keepalivedPidFile, Daemon.Keepalived, procRoot) is not null;
            ServingFacts next;
            if (readTable)
            {
                next = new ServingFacts(running, ReadTable(procNetIpVs));
                lastTable = time.GetTimestamp();
            }
            else next = _current with { KeepalivedRunning = running };
            if (next == _current) continue;
            _current = next;
            changes.Set();
        }
    }

    private static ServingFacts Read(string pidFile, string table, string procRoot) =>
        new(PidFile.Find(pidFile, Daemon.Keepalived, procRoot) is not null, ReadTable(table));

    private static IpvsTable? ReadTable(string path)
    {
        try
        {
            return IpvsTable.Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}
