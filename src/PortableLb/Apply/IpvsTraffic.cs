using System.Globalization;

namespace PortableLb.Apply;

/// <summary>
/// How many packets IPVS in this network namespace has received so far, from the kernel's running totals
/// (/proc/net/ip_vs_stats, per namespace). A count that still grows after the withdrawal means a router or a node
/// still sends this pod traffic.
/// </summary>
public static class IpvsTraffic
{
    /// <summary>The incoming packet total, or null when the kernel has no IPVS (no such file) or the file is not understood.</summary>
    public static long? IncomingPackets(string path = "/proc/net/ip_vs_stats")
    {
        try
        {
            return ParseIncomingPackets(File.ReadAllText(path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// The file's first line of numbers is the totals: connections, incoming packets, outgoing packets, incoming
    /// bytes, outgoing bytes, in hexadecimal (ip_vs_ctl.c, ip_vs_stats_show).
    /// </summary>
    public static long? ParseIncomingPackets(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 5) continue;
            if (fields.All(f => long.TryParse(f, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out _)))
            {
                return long.Parse(fields[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            }
        }
        return null;
    }
}
