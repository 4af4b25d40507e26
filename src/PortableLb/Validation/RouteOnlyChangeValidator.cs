using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace PortableLb.Validation;

/// <summary>
/// `exabgp --test` costs ~0.3 s of Python start-up, most of an endpoint-driven withdrawal's budget. A candidate whose
/// only difference from a config exabgp already accepted is which routes it lists is accepted without asking again:
/// every route line must have exactly the grammar the template produces, with addresses that parse, and the same
/// address families and attributes as routes exabgp has seen in that place. exabgp's verdict on such a line depends
/// on its shape and families (it rejects an IPv6 route with an IPv4 next-hop), not on which address it names. Any
/// other change (neighbours, timers, families, a password, a custom template's own lines) goes to exabgp.
/// </summary>
public sealed partial class RouteOnlyChangeValidator(IConfigValidator exabgp, int remembered = 64)
    : KnownShapeValidator(exabgp, Skeleton, remembered)
{
    [GeneratedRegex(@"^\s*route (?<prefix>[0-9A-Fa-f:.]+/[0-9]{1,3}) next-hop (?<nextHop>[0-9A-Fa-f:.]+)(?<attributes> community \[[0-9a-z: -]+\])?;\z")]
    private static partial Regex RouteLine();

    /// <summary>
    /// The config with comments dropped and each run of route lines replaced by one token naming their families and
    /// attributes; null when some route line is not of the template's exact grammar (then only exabgp may judge).
    /// </summary>
    public static string? Skeleton(string config)
    {
        var skeleton = new StringBuilder(config.Length / 4);
        string? lastRoute = null;
        foreach (var line in config.Split('\n'))
        {
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith('#')) continue;
            if (!trimmed.StartsWith("route ", StringComparison.Ordinal))
            {
                skeleton.Append(line).Append('\n');
                lastRoute = null;
                continue;
            }
            var match = RouteLine().Match(line);
            if (!match.Success
                || !IPNetwork.TryParse(match.Groups["prefix"].ValueSpan, out var prefix)
                || !IPAddress.TryParse(match.Groups["nextHop"].ValueSpan, out var nextHop))
            {
                return null;
            }
            var token = $"route {Family(prefix.BaseAddress)} next-hop {Family(nextHop)}{match.Groups["attributes"].Value};";
            if (token == lastRoute) continue;
            skeleton.Append(token).Append('\n');
            lastRoute = token;
        }
        return skeleton.ToString();
    }

    private static string Family(IPAddress address) => address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "<ipv4>" : "<ipv6>";
}
