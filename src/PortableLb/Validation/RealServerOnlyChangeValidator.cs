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
    /// <remarks>
    /// Reads the config in place, line by line and word by word, because at 10k real servers it is 2.3 MB: splitting
    /// it into strings would leave tens of megabytes for the GC at every endpoint change.
    /// </remarks>
    public static string? Skeleton(string config)
    {
        var skeleton = new StringBuilder(4096);
        var open = new Stack<Block>();
        var virtualAddress = ReadOnlySpan<char>.Empty;
        var virtualLine = "";
        var named = new HashSet<ulong>(); // the real servers of this virtual server, by a hash of "address port"
        var token = new StringBuilder(256); // the real server block being read, as its token
        var inRealServer = false;
        string? lastRealServer = null; // the token just before, while nothing else came between
        Span<Range> ranges = stackalloc Range[MaxWords + 1];
        foreach (var line in config.AsSpan().EnumerateLines())
        {
            var count = line.SplitAny(ranges, " \t\r", StringSplitOptions.RemoveEmptyEntries);
            if (count == 0 || line[ranges[0]][0] is '#' or '!') continue;
            if (count > MaxWords) return null;
            var words = ranges[..count];
            var first = line[words[0]];
            var last = line[words[^1]];
            if (!IsPlain(line, words)) return null;
            var allowed = open.TryPeek(out var inside) ? inside switch
            {
                Block.GlobalDefs => GlobalDefs,
                Block.VirtualServer => VirtualServer,
                Block.RealServer => RealServer,
                Block.Check => Check,
                _ => Url,
            } : TopLevel;
            if (!allowed.GetAlternateLookup<ReadOnlySpan<char>>().Contains(first)) return null;
            Block? opened = !last.SequenceEqual("{") ? null : first switch
            {
                "global_defs" => Block.GlobalDefs,
                "virtual_server" => Block.VirtualServer,
                "real_server" => Block.RealServer,
                "TCP_CHECK" or "HTTP_GET" => Block.Check,
                "url" => Block.Url,
                _ => null,
            };
            if (last.SequenceEqual("{") && opened is null) return null;
            if (first is "global_defs" or "virtual_server" or "real_server" or "TCP_CHECK" or "HTTP_GET" or "url" && opened is null) return null;

            if (first.SequenceEqual("}"))
            {
                if (!open.TryPop(out var closed)) return null;
                if (closed == Block.RealServer)
                {
                    token.Append('}');
                    if (lastRealServer is null || !token.Equals(lastRealServer.AsSpan()))
                    {
                        lastRealServer = token.ToString();
                        skeleton.Append(lastRealServer).Append('\n');
                    }
                    inRealServer = false;
                    continue;
                }
            }
            else if (opened is { } block)
            {
                open.Push(block);
                if (block == Block.VirtualServer)
                {
                    virtualLine = line.ToString(); // kept: the span below points into it
                    virtualAddress = count == 4 && !line[words[1]].SequenceEqual("fwmark") ? virtualLine.AsSpan()[words[1]] : [];
                    named.Clear();
                }
                else if (block == Block.RealServer)
                {
                    if (count != 4) return null;
                    var address = line[words[1]];
                    // Named twice, or the virtual server itself: keepalived's verdict on those is about the address.
                    // A hash collision reads as a duplicate, which only sends the candidate to keepalived.
                    if (address.SequenceEqual(virtualAddress) || !named.Add(Fnv1a(line[words[2]], Fnv1a(address, Fnv1aBasis)))) return null;
                    if (AddressClass(address) is not { } kind) return null;
                    token.Clear().Append("real_server ").Append(kind).Append(' ').Append(line[words[2]]).Append(" {;");
                    inRealServer = true;
                    continue;
                }
            }
            var target = inRealServer ? token : skeleton;
            for (var i = 0; i < count; i++)
            {
                if (i > 0) target.Append(' ');
                target.Append(line[words[i]]);
            }
            target.Append(inRealServer ? ';' : '\n');
            if (!inRealServer) lastRealServer = null;
        }
        return open.Count == 0 && !inRealServer ? skeleton.ToString() : null;
    }

    private const ulong Fnv1aBasis = 14695981039346656037;

    /// <summary>64-bit FNV-1a over the text, continuing from <paramref name="hash"/>; enough to tell real servers apart.</summary>
    private static ulong Fnv1a(ReadOnlySpan<char> text, ulong hash)
    {
        foreach (var c in text) hash = (hash ^ c) * 1099511628211;
        return (hash ^ ' ') * 1099511628211;
    }

    /// <summary>Longer lines than this are none the template renders.</summary>
    private const int MaxWords = 16;

    /// <summary>
    /// No variable ($), condition (@), quoted string, or brace other than a block's own opening "{" as the last word
    /// and a lone "}": beyond those, keepalived's reading of a line is beyond this one's.
    /// </summary>
    private static bool IsPlain(ReadOnlySpan<char> line, ReadOnlySpan<Range> words)
    {
        if (words.Length == 1 && line[words[0]].SequenceEqual("}")) return true;
        for (var i = 0; i < words.Length; i++)
        {
            var word = line[words[i]];
            if (i == words.Length - 1 && word.SequenceEqual("{")) continue;
            if (word.IndexOfAny("$@\"{}") >= 0) return false;
        }
        return true;
    }

    /// <summary>
    /// "&lt;ipv4&gt;" or "&lt;ipv6&gt;" for an ordinary unicast address in the canonical text keepalived's own parser
    /// agrees on; the literal text for any special address (loopback, unspecified, multicast, link-local, broadcast,
    /// mapped), so it keeps a verdict of its own; null for text that is no address.
    /// </summary>
    private static string? AddressClass(ReadOnlySpan<char> text)
    {
        Span<char> canonical = stackalloc char[64];
        if (!IPAddress.TryParse(text, out var address) || !address.TryFormat(canonical, out var written) || !canonical[..written].SequenceEqual(text)) return null;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> bytes = stackalloc byte[4];
            address.TryWriteBytes(bytes, out _);
            var special = bytes[0] is 0 or 127 || bytes[0] >= 224 || (bytes[0] == 169 && bytes[1] == 254);
            return special ? text.ToString() : "<ipv4>";
        }
        var v6Special = address.IsIPv6LinkLocal || address.IsIPv6Multicast || address.IsIPv6SiteLocal || address.IsIPv4MappedToIPv6
            || address.Equals(IPAddress.IPv6Loopback) || address.Equals(IPAddress.IPv6Any);
        return v6Special ? text.ToString() : "<ipv6>";
    }
}
