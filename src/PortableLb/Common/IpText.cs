using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace PortableLb.Common;

/// <summary>
/// Strict parsing of addresses and prefixes. IPAddress.TryParse alone accepts "10", "10.1" and "0x0a.0.0.1",
/// which Kubernetes rejects; and whatever we accept here ends up verbatim in a daemon's config.
/// </summary>
public static partial class IpText
{
    [GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\z")]
    private static partial Regex DottedQuad();

    [GeneratedRegex(@"^[0-9A-Fa-f:.]+\z")]
    private static partial Regex Ipv6Characters();

    public static bool TryParseAddress(string? text, out IPAddress address)
    {
        address = IPAddress.None;
        if (string.IsNullOrEmpty(text) || text.Length > 45) return false;
        if (text.Contains(':'))
        {
            if (!Ipv6Characters().IsMatch(text) || !IPAddress.TryParse(text, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6) return false;
            address = v6;
            return true;
        }
        if (!DottedQuad().IsMatch(text)) return false;
        address = IPAddress.Parse(text);
        return true;
    }

    /// <summary>
    /// Parses "IP" or "IP/len". A full-length prefix is the same thing as an IP and is returned as one. Host bits are
    /// an error unless <paramref name="maskHostBits"/> (Kubernetes' own CIDR fields accept and mask them).
    /// </summary>
    public static bool TryParseAddressOrPrefix(string? text, out IPNetwork network, out string problem, bool maskHostBits = false)
    {
        network = default;
        problem = "";
        if (string.IsNullOrEmpty(text))
        {
            problem = "is empty";
            return false;
        }
        var slash = text.IndexOf('/');
        var addressText = slash < 0 ? text : text[..slash];
        if (!TryParseAddress(addressText, out var address))
        {
            problem = $"\"{Printable(text)}\" is not an IPv4 or IPv6 address or prefix";
            return false;
        }
        var maxLength = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var length = maxLength;
        if (slash >= 0)
        {
            var lengthText = text[(slash + 1)..];
            if (lengthText.Length is 0 or > 3 || !lengthText.All(char.IsAsciiDigit) || (lengthText.Length > 1 && lengthText[0] == '0')
                || !int.TryParse(lengthText, out length) || length > maxLength)
            {
                problem = $"\"{Printable(text)}\" has an invalid prefix length (0 to {maxLength})";
                return false;
            }
        }
        var candidate = new IPNetwork(Mask(address, length), length);
        if (!maskHostBits && !candidate.BaseAddress.Equals(address))
        {
            problem = $"\"{Printable(text)}\" has host bits set; the prefix is {candidate}";
            return false;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            problem = $"\"{Printable(text)}\" is an IPv4-mapped IPv6 address; write the IPv4 form";
            return false;
        }
        network = candidate;
        return true;
    }

    /// <summary>Ranges that are never a load-balancer, pod or next-hop address, each with how errors name it.</summary>
    public static IReadOnlyList<(IPNetwork Network, string What)> SpecialPurpose { get; } =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "\"this network\" (0.0.0.0/8)"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local (169.254.0.0/16)"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
        (IPNetwork.Parse("255.255.255.255/32"), "broadcast (255.255.255.255)"),
        (IPNetwork.Parse("::/128"), "the unspecified address (::)"),
        (IPNetwork.Parse("::1/128"), "loopback (::1)"),
        (IPNetwork.Parse("fe80::/10"), "link-local (fe80::/10)"),
        (IPNetwork.Parse("ff00::/8"), "multicast (ff00::/8)"),
    ];

    public static bool IsUnspecifiedOrMulticast(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.IsIPv6Multicast
        || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.GetAddressBytes()[0] is >= 224 and <= 239);

    /// <returns>The special-purpose range the address is in, in words; null for an ordinary address.</returns>
    public static string? SpecialPurposeRange(IPAddress address) =>
        SpecialPurpose.FirstOrDefault(r => r.Network.BaseAddress.AddressFamily == address.AddressFamily && r.Network.Contains(address)).What;

    public static bool IsSingleAddress(this IPNetwork network) =>
        network.PrefixLength == (network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);

    /// <summary>"192.0.2.1" for a single address, "10.1.1.0/24" for a prefix: how users wrote them.</summary>
    public static string Display(this IPNetwork network) => network.IsSingleAddress() ? network.BaseAddress.ToString() : network.ToString();

    public static string FamilyName(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";

    /// <summary>Quotes untrusted text in an error message without letting it break the message's line.</summary>
    public static string Printable(string text)
    {
        const int limit = 80;
        var clipped = text.Length > limit ? text[..limit] + "…" : text;
        return string.Concat(clipped.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
    }

    private static IPAddress Mask(IPAddress address, int length)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var bitsInByte = Math.Clamp(length - i * 8, 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - bitsInByte));
        }
        return new IPAddress(bytes);
    }
}
