using System.Net;
using System.Net.NetworkInformation;

namespace PortableLb.Apply;

/// <summary>The network interfaces of the namespace this process runs in.</summary>
public static class LocalInterfaces
{
    /// <summary>
    /// The name of the interface that holds one of <paramref name="addresses"/>, or null. In L2 mode the LB pod runs in
    /// the node's network namespace, and the interface with the node's address is the one on the clients' segment.
    /// </summary>
    public static string? Holding(IEnumerable<IPAddress?> addresses)
    {
        var wanted = addresses.OfType<IPAddress>().ToHashSet();
        if (wanted.Count == 0) return null;
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .FirstOrDefault(i => i.GetIPProperties().UnicastAddresses.Any(u => wanted.Contains(u.Address)))?.Name;
        }
        catch (NetworkInformationException)
        {
            return null;
        }
    }
}
