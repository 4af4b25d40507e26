using System.Text;

namespace PortableLb.Model;

/// <summary>
/// Gives each prefix virtual server a firewall mark that depends only on its own identity, so adding or removing
/// another Service never renumbers it (a renumbered mark would briefly drop traffic between the nft rule and
/// IPVS agreeing). The mark is FNV-1a-32 of "namespace/name|prefix|protocol|port", folded into 1..2^31-1.
/// On the rare collision the later key (in sorted order) probes upward to the next free value.
/// </summary>
public static class FwmarkAllocator
{
    public const uint MaxMark = 0x7FFF_FFFF;

    public static string KeyOf(ServiceName service, VirtualAddress.Fwmark address) =>
        $"{service}|{address.Prefix}|{address.Protocol.ToString().ToUpperInvariant()}|{address.Port}";

    public static uint Preferred(string key)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(key))
        {
            hash = unchecked((hash ^ b) * 16777619u);
        }
        return hash % MaxMark + 1;
    }

    /// <summary>Marks for the given keys, assigned in ordinal key order so the result does not depend on input order.</summary>
    public static IReadOnlyDictionary<string, uint> Assign(IEnumerable<string> keys)
    {
        var taken = new HashSet<uint>();
        var result = new Dictionary<string, uint>(StringComparer.Ordinal);
        foreach (var key in keys.Distinct().Order(StringComparer.Ordinal))
        {
            var mark = Preferred(key);
            while (!taken.Add(mark)) mark = mark == MaxMark ? 1 : mark + 1;
            result[key] = mark;
        }
        return result;
    }
}
