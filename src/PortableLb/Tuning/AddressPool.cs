using System.Net;
using System.Net.Sockets;
using PortableLb.Common;

namespace PortableLb.Tuning;

/// <summary>An inclusive range of addresses of one family: a pool entry written as a prefix, a range or one address.</summary>
public sealed record AddressRange(IPAddress First, IPAddress Last)
{
    public AddressFamily Family => First.AddressFamily;

    public bool Contains(IPAddress address) =>
        address.AddressFamily == Family && Number(address) >= Number(First) && Number(address) <= Number(Last);

    public bool Contains(IPNetwork network) => Contains(network.BaseAddress) && Contains(LastOf(network));

    public bool Overlaps(AddressRange other) =>
        other.Family == Family && Number(other.First) <= Number(Last) && Number(First) <= Number(other.Last);

    /// <summary>The addresses from <paramref name="from"/> (or the first) upward, lazily: a /64 pool is never listed whole.</summary>
    public IEnumerable<IPAddress> From(IPAddress? from = null)
    {
        var last = Number(Last);
        for (var n = from is null ? Number(First) : Number(from); n <= last; n++)
        {
            yield return Address(n, Family);
            if (n == UInt128.MaxValue) yield break;
        }
    }

    public override string ToString() => First.Equals(Last) ? First.ToString() : $"{First}-{Last}";

    public static UInt128 Number(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        UInt128 n = 0;
        foreach (var b in bytes) n = (n << 8) | b;
        return n;
    }

    public static IPAddress Address(UInt128 number, AddressFamily family)
    {
        var bytes = new byte[family == AddressFamily.InterNetwork ? 4 : 16];
        for (var i = bytes.Length - 1; i >= 0; i--, number >>= 8) bytes[i] = (byte)(number & 0xff);
        return new IPAddress(bytes);
    }

    public static IPAddress LastOf(IPNetwork network)
    {
        var bits = network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var hostBits = bits - network.PrefixLength;
        var mask = hostBits == 128 ? UInt128.MaxValue : (UInt128.One << hostBits) - 1;
        return Address(Number(network.BaseAddress) | mask, network.BaseAddress.AddressFamily);
    }

    /// <summary>"10.1.2.0/28", "10.1.3.10-10.1.3.20" or "2001:db8::5"; null with the problem otherwise.</summary>
    public static AddressRange? Parse(string text, out string problem)
    {
        problem = "";
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0)
        {
            if (!IpText.TryParseAddress(text[..dash].Trim(), out var first) || !IpText.TryParseAddress(text[(dash + 1)..].Trim(), out var last))
            {
                problem = $"\"{IpText.Printable(text)}\" is not a range of two addresses";
                return null;
            }
            if (first.AddressFamily != last.AddressFamily || Number(first) > Number(last))
            {
                problem = $"\"{IpText.Printable(text)}\" must run from a lower to a higher address of one family";
                return null;
            }
            return new AddressRange(first, last);
        }
        if (!IpText.TryParseAddressOrPrefix(text, out var network, out problem)) return null;
        return new AddressRange(network.BaseAddress, LastOf(network));
    }
}

/// <summary>
/// A named set of addresses Services get theirs from (the tuning's `pools`). autoAssign: false keeps a pool for
/// Services that name it (annotation portable-lb.io/pool) or pick an address in it.
/// </summary>
public sealed record AddressPool(string Name, ValueList<AddressRange> Ranges, bool AutoAssign)
{
    public bool Contains(IPNetwork network) => Ranges.Any(r => r.Contains(network));
}
