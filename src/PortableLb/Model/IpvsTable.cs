using System.Buffers.Binary;
using System.Globalization;
using System.Net;

namespace PortableLb.Model;

/// <summary>One virtual service as the kernel has it: by protocol, address and port, or by firewall mark.</summary>
public readonly record struct IpvsService(Protocol? Protocol, IPAddress? Address, int Port, uint Mark)
{
    public static IpvsService Of(VirtualAddress address) => address switch
    {
        VirtualAddress.Socket s => new IpvsService(s.Protocol, s.Address, s.Port, 0),
        VirtualAddress.Fwmark f => new IpvsService(null, null, 0, f.Mark),
        _ => throw new InvalidOperationException("unknown virtual address"),
    };
}

/// <summary>
/// The kernel's IPVS table as /proc/net/ip_vs shows it in this network namespace: each virtual service and how many of
/// its real servers take new connections (weight above 0). What keepalived has actually programmed, as opposed to
/// what ipvs.conf asks for.
/// </summary>
public sealed class IpvsTable : IEquatable<IpvsTable>
{
    private readonly Dictionary<IpvsService, int> _services;
    private readonly string _signature;

    private IpvsTable(Dictionary<IpvsService, int> services)
    {
        _services = services;
        _signature = string.Join(";", services.Select(s => $"{s.Key}={s.Value}").Order(StringComparer.Ordinal));
    }

    public static IpvsTable Empty { get; } = new([]);

    public int Count => _services.Count;

    /// <summary>Whether the kernel has this virtual service with at least one real server that takes new connections.</summary>
    public bool Serves(VirtualAddress address) => _services.GetValueOrDefault(IpvsService.Of(address)) > 0;

    /// <summary>
    /// Parses /proc/net/ip_vs: a header, then "PROT ADDR:PORT SCHED [flags]" per virtual service (TCP, UDP, SCTP with
    /// hex addresses, IPv6 in brackets; FWM with a hex mark) each followed by "  -> ADDR:PORT FORWARD WEIGHT …" lines.
    /// Lines it does not understand are skipped: the table only ever gates announcements, never adds them.
    /// </summary>
    public static IpvsTable Parse(string text)
    {
        var services = new Dictionary<IpvsService, int>();
        IpvsService? current = null;
        foreach (var line in text.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && fields[0] == "->")
            {
                if (current is { } service && fields.Length >= 4 && int.TryParse(fields[3], CultureInfo.InvariantCulture, out var weight) && weight > 0)
                {
                    services[service]++;
                }
                continue;
            }
            current = fields.Length >= 2 ? ServiceOf(fields[0], fields[1]) : null;
            if (current is { } added) services.TryAdd(added, 0);
        }
        return new IpvsTable(services);
    }

    private static IpvsService? ServiceOf(string protocol, string where)
    {
        if (protocol == "FWM") return uint.TryParse(where, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mark) ? new IpvsService(null, null, 0, mark) : null;
        Protocol? parsed = protocol switch { "TCP" => Protocol.Tcp, "UDP" => Protocol.Udp, "SCTP" => Protocol.Sctp, _ => null };
        var colon = where.LastIndexOf(':');
        if (parsed is null || colon < 0 || !int.TryParse(where[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port)) return null;
        var address = HexAddress(where[..colon].Trim('[', ']'));
        return address is null ? null : new IpvsService(parsed, address, port, 0);
    }

    /// <summary>"0A010210" (IPv4, network order) or "2001:0db8:…" (IPv6, already colon-separated).</summary>
    private static IPAddress? HexAddress(string text)
    {
        if (text.Contains(':')) return IPAddress.TryParse(text, out var v6) ? v6 : null;
        if (text.Length != 8 || !uint.TryParse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value)) return null;
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    public bool Equals(IpvsTable? other) => other is not null && _signature == other._signature;
    public override bool Equals(object? obj) => Equals(obj as IpvsTable);
    public override int GetHashCode() => _signature.GetHashCode(StringComparison.Ordinal);
}
