using System.Net;

namespace PortableLb.Common;

/// <summary>IPv4 before IPv6, then numeric order, without allocating the byte arrays: how rendered lists are sorted.</summary>
public sealed class AddressOrder : IComparer<IPAddress>
{
    public static AddressOrder Instance { get; } = new();

    public int Compare(IPAddress? x, IPAddress? y)
    {
        Span<byte> a = stackalloc byte[16];
        Span<byte> b = stackalloc byte[16];
        x!.TryWriteBytes(a, out var lengthA);
        y!.TryWriteBytes(b, out var lengthB);
        return lengthA != lengthB ? lengthA.CompareTo(lengthB) : a[..lengthA].SequenceCompareTo(b[..lengthB]);
    }
}
