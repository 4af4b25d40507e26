using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PortableLb.Validation;

/// <summary>
/// `keepalived -t` is most of an endpoint change's apply time (≈ 40 ms at 1k real servers, ≈ 310 ms at 10k). A
/// candidate whose only difference from a config keepalived already accepted is which real servers its virtual servers
/// list is accepted without asking again.
/// </summary>
/// <remarks>
/// The skeleton keeps every line verbatim except each real server's address, which becomes its family, and collapses a
/// run of real servers that are then alike into one. That is safe only where keepalived's verdict on a real server
/// cannot depend on which address it names or on how many of them there are, so the shortcut is refused (null) unless:
/// - the config uses only the keywords the built-in template renders (a custom template's `quorum` would make the sum of
///   the weights matter; `include`, `@` and `$` make the text mean something else);
/// - each address is an ordinary unicast one in canonical form (anything else keeps its literal text, and so its own
///   verdict);
/// - no real server is named twice in one virtual server, and none is its virtual server's own address.
/// What keepalived judges by value, such as weights that are all 0 (a quorum warning, which fails `-t`), stays in the
/// skeleton: collapsing alike real servers keeps the set of distinct ones, so "all 0" or "some above 0" survives.
/// </remarks>
public sealed class RealServerOnlyChangeValidator(IConfigValidator keepalived, int remembered = 64)
    : KnownShapeValidator(keepalived, Skeleton, remembered)
{
    private static readonly HashSet<string> TopLevel = ["global_defs", "virtual_server", "}"];
    private static readonly HashSet<string> GlobalDefs = ["reload_file", "}"];
    private static readonly HashSet<string> VirtualServer = ["delay_loop", "lb_algo", "lb_kind", "protocol", "persistence_timeout", "real_server", "}"];
    private static readonly HashSet<string> RealServer = ["weight", "uthreshold", "TCP_CHECK", "HTTP_GET", "}"];
    private static readonly HashSet<string> Check = ["url", "connect_timeout", "connect_port", "retry", "delay_before_retry", "}"];
    private static readonly HashSet<string> Url = ["path", "status_code", "}"];

    private enum Block
    {
        GlobalDefs,
        VirtualServer,
        RealServer,
        Check,
        Url,
    }

    /// <summary>The config's shape as described above; null when only keepalived may judge it.</summary>
    public static string? Skeleton(string config)
    {
        var skeleton = new StringBuilder(config.Length / 8);
        var open = new Stack<Block>();
        string? virtualAddress = null;
        HashSet<string> named = [];
        StringBuilder? realServer = null; // the real server block being read, as its token
        string? lastRealServer = null; // the token just before, while nothing else came between
        foreach (var line in config.Split('\n'))
        {
            var words = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0 || words[0][0] is '#' or '!') continue;
            if (!IsPlain(words)) return null;
            var allowed = open.TryPeek(out var inside) ? inside switch
            {
                Block.GlobalDefs => GlobalDefs,
                Block.VirtualServer => VirtualServer,
                Block.RealServer => RealServer,
                Block.Check => Check,
                _ => Url,
            } : TopLevel;
            if (!allowed.Contains(words[0])) return null;
            Block? opened = words[^1] != "{" ? null : words[0] switch
            {
                "global_defs" => Block.GlobalDefs,
                "virtual_server" => Block.VirtualServer,
                "real_server" => Block.RealServer,
                "TCP_CHECK" or "HTTP_GET" => Block.Check,
                "url" => Block.Url,
                _ => null,
            };
            if (words[^1] == "{" && opened is null) return null;
            if (words[0] is "global_defs" or "virtual_server" or "real_server" or "TCP_CHECK" or "HTTP_GET" or "url" && opened is null) return null;

            if (words[0] == "}")
            {
                if (!open.TryPop(out var closed)) return null;
                if (closed == Block.RealServer)
                {
                    var token = realServer!.Append('}').ToString();
                    if (token != lastRealServer) skeleton.Append(token).Append('\n');
                    lastRealServer = token;
                    realServer = null;
                    continue;
                }
            }
            else if (opened is { } block)
            {
                open.Push(block);
                if (block == Block.VirtualServer)
                {
                    virtualAddress = words.Length == 4 && words[1] != "fwmark" ? words[1] : null;
                    named = [];
                }
                else if (block == Block.RealServer)
                {
                    // Named twice, or the virtual server itself: keepalived's verdict on those is about the address.
                    if (words.Length != 4 || words[1] == virtualAddress || !named.Add(words[1] + " " + words[2])) return null;
                    if (AddressClass(words[1]) is not { } address) return null;
                    realServer = new StringBuilder("real_server ").Append(address).Append(' ').Append(words[2]).Append(" {;");
                    continue;
                }
            }
            if (realServer is not null)
            {
                realServer.AppendJoin(' ', words).Append(';');
                continue;
            }
            skeleton.AppendJoin(' ', words).Append('\n');
            lastRealServer = null;
        }
        return open.Count == 0 && realServer is null ? skeleton.ToString() : null;
    }

    /// <summary>
    /// No variable ($), condition (@), quoted string, or brace other than a block's own opening "{" as the last word
    /// and a lone "}": beyond those, keepalived's reading of a line is beyond this one's.
    /// </summary>
    private static bool IsPlain(string[] words)
    {
        if (words.Length == 1 && words[0] == "}") return true;
        for (var i = 0; i < words.Length; i++)
        {
            if (i == words.Length - 1 && words[i] == "{") continue;
            if (words[i].AsSpan().IndexOfAny("$@\"{}") >= 0) return false;
        }
        return true;
    }

    /// <summary>
    /// "&lt;ipv4&gt;" or "&lt;ipv6&gt;" for an ordinary unicast address in the canonical text keepalived's own parser
    /// agrees on; the literal text for any special address (loopback, unspecified, multicast, link-local, broadcast,
    /// mapped), so it keeps a verdict of its own; null for text that is no address.
    /// </summary>
    private static string? AddressClass(string text)
    {
        if (!IPAddress.TryParse(text, out var address) || address.ToString() != text) return null;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var first = address.GetAddressBytes()[0];
            var second = address.GetAddressBytes()[1];
            var special = first is 0 or 127 || first >= 224 || (first == 169 && second == 254);
            return special ? text : "<ipv4>";
        }
        var v6Special = address.IsIPv6LinkLocal || address.IsIPv6Multicast || address.IsIPv6SiteLocal || address.IsIPv4MappedToIPv6
            || address.Equals(IPAddress.IPv6Loopback) || address.Equals(IPAddress.IPv6Any);
        return v6Special ? text : "<ipv6>";
    }
}
