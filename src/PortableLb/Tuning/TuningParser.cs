using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using PortableLb.Common;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PortableLb.Tuning;

public sealed record TuningParseResult(TuningSettings? Tuning, IReadOnlyList<TuningError> Errors)
{
    public bool Succeeded => Tuning is not null;
}

/// <summary>
/// Parses config.yaml (the tuning ConfigMap's data, or --tuning FILE). Every value that reaches a template is
/// typed and ranged here: keepalived runs checker scripts as root, so free text in its config is a root shell.
/// </summary>
public static partial class TuningParser
{
    private static readonly string[] RootKeys = ["mode", "virtualServer", "bgp", "l2", "services", "status", "pools"];
    private static readonly Dictionary<string, LbMode> Modes = new() { ["bgp"] = LbMode.Bgp, ["l2"] = LbMode.L2 };
    private static readonly string[] L2Keys = ["interface", "firstRouterId", "lastRouterId", "advertInterval", "preemptDelay"];
    private static readonly string[] PoolKeys = ["name", "addresses", "autoAssign"];

    /// <summary>Bounds on the pools: each entry is checked against every other for overlap.</summary>
    public const int MaxPools = 64, MaxPoolEntries = 256;
    private static readonly string[] StatusKeys = ["ipMode"];
    private static readonly Dictionary<string, IngressMode> IngressModes = new() { ["VIP"] = IngressMode.Vip, ["Proxy"] = IngressMode.Proxy };
    private static readonly string[] VirtualServerKeys =
        ["scheduler", "forwarding", "delayLoop", "persistenceTimeout", "upperThreshold", "weight", "healthCheck"];
    private static readonly string[] HealthCheckKeys =
        ["type", "connectTimeout", "retry", "delayBeforeRetry", "port", "path", "statusCode"];
    private static readonly string[] BgpKeys =
        ["localAs", "peerAs", "peers", "holdTime", "routerId", "localAddress", "nextHop", "communities", "announce"];

    private static readonly Dictionary<string, Scheduler> Schedulers =
        System.Enum.GetValues<Scheduler>().ToDictionary(s => s.ToString().ToLowerInvariant());
    private static readonly Dictionary<string, Forwarding> ForwardingMethods =
        System.Enum.GetValues<Forwarding>().ToDictionary(f => f.ToString().ToLowerInvariant());
    private static readonly Dictionary<string, HealthCheckType> HealthCheckTypes =
        System.Enum.GetValues<HealthCheckType>().ToDictionary(t => t.ToString().ToLowerInvariant());
    private static readonly Dictionary<string, AnnounceMode> AnnounceModes =
        new() { ["whenServing"] = AnnounceMode.WhenServing, ["always"] = AnnounceMode.Always };

    /// <summary>
    /// A URL path and query in which keepalived sees one plain token: no quotes, spaces, braces, or its comment
    /// (#, !) and substitution ($, @) characters; percent-escapes must be well formed.
    /// </summary>
    [GeneratedRegex(@"^/(?:[A-Za-z0-9\-._~/:+,=&?*()]|%[0-9A-Fa-f]{2})*\z")]
    private static partial Regex SafeHttpPath();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\z")]
    private static partial Regex ServiceKey();

    [GeneratedRegex(@"^(?<high>[0-9]{1,5}):(?<low>[0-9]{1,5})\z")]
    private static partial Regex StandardCommunity();

    /// <summary>Leaves the rendered `path` line well inside keepalived's 1,024-byte line buffer.</summary>
    public const int MaxHttpPathLength = 512;

    private static readonly string[] WellKnownCommunities = ["no-export", "no-advertise", "no-export-subconfed"];

    public static TuningParseResult Parse(string yaml, string source)
    {
        var reader = new YamlFieldReader(source);
        YamlNode? root;
        try
        {
            YamlLimits.Default.Check(yaml);
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count > 1)
            {
                reader.Error("", "must be a single YAML document");
                return new TuningParseResult(null, reader.Errors);
            }
            root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        }
        catch (YamlException e)
        {
            reader.Error($"line {e.Start.Line}", $"is not valid YAML: {e.Message}");
            return new TuningParseResult(null, reader.Errors);
        }

        var top = reader.Mapping(root, "", RootKeys);
        var defaults = top.TryGetValue("virtualServer", out var vsNode)
            ? ReadVirtualServer(reader, vsNode, "virtualServer", VirtualServerSettings.Default)
            : VirtualServerSettings.Default;
        var bgp = top.TryGetValue("bgp", out var bgpNode) ? ReadBgp(reader, bgpNode, "bgp") : BgpSettings.Default;
        var services = new Dictionary<string, VirtualServerSettings>(StringComparer.Ordinal);
        if (top.TryGetValue("services", out var servicesNode))
        {
            foreach (var (key, node) in reader.Mapping(servicesNode, "services", allowedKeys: null))
            {
                var path = YamlFieldReader.Join("services", key);
                if (!ServiceKey().IsMatch(key))
                {
                    reader.Error(path, "the key must be a Service's \"namespace/name\"");
                    continue;
                }
                services[key] = ReadVirtualServer(reader, node, path, defaults);
            }
        }

        var ipMode = IngressMode.Vip;
        if (top.TryGetValue("status", out var statusNode) && reader.Mapping(statusNode, "status", StatusKeys).TryGetValue("ipMode", out var ipModeNode))
        {
            ipMode = reader.Enum(ipModeNode, "status.ipMode", IngressModes) ?? ipMode;
        }

        var pools = top.TryGetValue("pools", out var poolsNode) ? ReadPools(reader, poolsNode) : ValueList<AddressPool>.Empty;
        var mode = top.TryGetValue("mode", out var modeNode) ? reader.Enum(modeNode, "mode", Modes) ?? LbMode.Bgp : LbMode.Bgp;
        var l2 = top.TryGetValue("l2", out var l2Node) ? ReadL2(reader, l2Node, "l2") : L2Settings.Default;
        if (mode == LbMode.L2 && bgp.Enabled) reader.Error("bgp.peers", "lists peers, but mode is l2: exabgp stays idle in l2 mode; remove the peers or set mode: bgp");

        return reader.Errors.Count > 0
            ? new TuningParseResult(null, reader.Errors)
            : new TuningParseResult(new TuningSettings(defaults, bgp, services) { IpMode = ipMode, Pools = pools, Mode = mode, L2 = l2 }, []);
    }

    private static ValueList<AddressPool> ReadPools(YamlFieldReader reader, YamlNode node)
    {
        var pools = new List<AddressPool>();
        var entries = reader.Sequence(node, "pools");
        if (entries.Count > MaxPools) reader.Error("pools", $"lists {entries.Count} pools; at most {MaxPools}");
        foreach (var (poolNode, path) in entries.Take(MaxPools))
        {
            var m = reader.Mapping(poolNode, path, PoolKeys);
            string At(string key) => YamlFieldReader.Join(path, key);
            var name = m.TryGetValue("name", out var nameNode) ? reader.String(nameNode, At("name")) : null;
            if (name is null)
            {
                if (!m.ContainsKey("name")) reader.Error(At("name"), "is required");
                continue;
            }
            if (!PoolName().IsMatch(name)) reader.Error(At("name"), $"\"{IpText.Printable(name)}\" is not a DNS label (lower-case letters, digits and '-', at most 63)");
            else if (pools.Any(p => p.Name == name)) reader.Error(At("name"), $"\"{name}\" names two pools");

            var ranges = new List<AddressRange>();
            var addresses = m.TryGetValue("addresses", out var addressesNode) ? reader.Sequence(addressesNode, At("addresses")) : [];
            if (addresses.Count == 0) reader.Error(At("addresses"), "must list at least one prefix, range or address");
            if (addresses.Count > MaxPoolEntries) reader.Error(At("addresses"), $"lists {addresses.Count} entries; at most {MaxPoolEntries}");
            foreach (var (entryNode, entryPath) in addresses.Take(MaxPoolEntries))
            {
                if (reader.String(entryNode, entryPath) is not { } text) continue;
                if (AddressRange.Parse(text.Trim(), out var problem) is not { } range)
                {
                    reader.Error(entryPath, problem);
                    continue;
                }
                var clash = pools.SelectMany(p => p.Ranges.Select(r => (Pool: p.Name, Range: r))).Concat(ranges.Select(r => (Pool: name, Range: r)))
                    .FirstOrDefault(other => other.Range.Overlaps(range));
                if (clash.Range is not null) reader.Error(entryPath, $"{range} overlaps {clash.Range} of pool \"{clash.Pool}\"; an address belongs to one pool");
                else ranges.Add(range);
            }
            var autoAssign = !m.TryGetValue("autoAssign", out var autoNode) || (reader.Boolean(autoNode, At("autoAssign")) ?? true);
            pools.Add(new AddressPool(name, ranges.ToValueList(), autoAssign));
        }
        return pools.ToValueList();
    }

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\z")]
    private static partial Regex PoolName();

    /// <summary>A Linux interface name: at most 15 bytes, none of '/', ':' or white space (dev_valid_name), and one token for keepalived.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9_.@-]{1,15}\z")]
    private static partial Regex InterfaceName();

    /// <summary>Seconds with at most two decimals: VRRPv3 carries the interval in centiseconds.</summary>
    [GeneratedRegex(@"^(?<whole>[0-9]{1,2})(\.(?<fraction>[0-9]{1,2}))?\z")]
    private static partial Regex Centiseconds();

    private static L2Settings ReadL2(YamlFieldReader reader, YamlNode node, string path)
    {
        var m = reader.Mapping(node, path, L2Keys);
        var baseline = L2Settings.Default;
        string At(string key) => YamlFieldReader.Join(path, key);

        string? name = null;
        if (m.TryGetValue("interface", out var nameNode) && reader.String(nameNode, At("interface")) is { Length: > 0 } text)
        {
            if (InterfaceName().IsMatch(text) && text is not ("." or "..")) name = text;
            else reader.Error(At("interface"), $"\"{IpText.Printable(text)}\" is not a network interface name (at most 15 letters, digits and _.@-)");
        }
        var first = Int(reader, m, "firstRouterId", At("firstRouterId"), 1, 255, baseline.FirstRouterId);
        var last = Int(reader, m, "lastRouterId", At("lastRouterId"), 1, 255, baseline.LastRouterId);
        if (last < first) reader.Error(At("lastRouterId"), $"{last} is below firstRouterId ({first})");

        var advert = baseline.AdvertIntervalCentiseconds;
        if (m.TryGetValue("advertInterval", out var advertNode) && reader.String(advertNode, At("advertInterval")) is { } seconds)
        {
            var match = Centiseconds().Match(seconds);
            var value = match.Success ? int.Parse(match.Groups["whole"].Value) * 100 + (match.Groups["fraction"].Success ? int.Parse(match.Groups["fraction"].Value.PadRight(2, '0')) : 0) : -1;
            // VRRPv3's field is 12 bits of centiseconds: 0.01 s to 40.95 s.
            if (value is >= 1 and <= 4_095) advert = value;
            else reader.Error(At("advertInterval"), $"must be seconds from 0.01 to 40.95 with at most two decimals, got \"{IpText.Printable(seconds)}\"");
        }
        return new L2Settings(name, first, last, advert,
            // keepalived's range for preempt_delay.
            Int(reader, m, "preemptDelay", At("preemptDelay"), 0, 1_000, baseline.PreemptDelay));
    }

    private static VirtualServerSettings ReadVirtualServer(YamlFieldReader reader, YamlNode node, string path, VirtualServerSettings baseline)
    {
        var m = reader.Mapping(node, path, VirtualServerKeys);
        string At(string key) => YamlFieldReader.Join(path, key);
        return new VirtualServerSettings(
            m.TryGetValue("scheduler", out var n) ? reader.Enum(n, At("scheduler"), Schedulers) ?? baseline.Scheduler : baseline.Scheduler,
            m.TryGetValue("forwarding", out n) ? reader.Enum(n, At("forwarding"), ForwardingMethods) ?? baseline.Forwarding : baseline.Forwarding,
            Int(reader, m, "delayLoop", At("delayLoop"), 1, 86_400, baseline.DelayLoop),
            // keepalived's own range for persistence_timeout; 0 is ours for "off" and is not rendered.
            Int(reader, m, "persistenceTimeout", At("persistenceTimeout"), 0, 2_678_400, baseline.PersistenceTimeout),
            m.TryGetValue("upperThreshold", out n) ? reader.Integer(n, At("upperThreshold"), 0, uint.MaxValue) ?? baseline.UpperThreshold : baseline.UpperThreshold,
            // Weight 0 is how PortableLb drains terminating endpoints; a configured 0 would leave nothing to serve.
            Int(reader, m, "weight", At("weight"), 1, 65_535, baseline.Weight),
            m.TryGetValue("healthCheck", out n) ? ReadHealthCheck(reader, n, At("healthCheck"), baseline.HealthCheck) : baseline.HealthCheck);
    }

    private static HealthCheckSettings ReadHealthCheck(YamlFieldReader reader, YamlNode node, string path, HealthCheckSettings baseline)
    {
        var m = reader.Mapping(node, path, HealthCheckKeys);
        string At(string key) => YamlFieldReader.Join(path, key);
        var httpPath = baseline.Path;
        if (m.TryGetValue("path", out var pathNode) && reader.String(pathNode, At("path")) is { } text)
        {
            if (text.Length > MaxHttpPathLength) reader.Error(At("path"), $"is {text.Length} characters long; at most {MaxHttpPathLength} (keepalived splits config lines longer than 1024 bytes)");
            else if (SafeHttpPath().IsMatch(text)) httpPath = text;
            else reader.Error(At("path"), $"\"{IpText.Printable(text)}\" is not a safe URL path: it must start with / and use only letters, digits, %XX escapes and -._~/:+,=&?*()");
        }
        return new HealthCheckSettings(
            m.TryGetValue("type", out var n) ? reader.Enum(n, At("type"), HealthCheckTypes) ?? baseline.Type : baseline.Type,
            Int(reader, m, "connectTimeout", At("connectTimeout"), 1, 3_600, baseline.ConnectTimeout),
            Int(reader, m, "retry", At("retry"), 0, 100, baseline.Retry),
            Int(reader, m, "delayBeforeRetry", At("delayBeforeRetry"), 0, 3_600, baseline.DelayBeforeRetry),
            Int(reader, m, "port", At("port"), 0, 65_535, baseline.Port),
            httpPath,
            Int(reader, m, "statusCode", At("statusCode"), 100, 599, baseline.StatusCode));
    }

    private static BgpSettings ReadBgp(YamlFieldReader reader, YamlNode node, string path)
    {
        var m = reader.Mapping(node, path, BgpKeys);
        var baseline = BgpSettings.Default;
        string At(string key) => YamlFieldReader.Join(path, key);

        var peers = new List<IPAddress>();
        if (m.TryGetValue("peers", out var peersNode))
        {
            foreach (var (peerNode, peerPath) in reader.Sequence(peersNode, At("peers")))
            {
                if (reader.String(peerNode, peerPath) is not { } text) continue;
                if (!IpText.TryParseAddress(text, out var peer)) reader.Error(peerPath, $"\"{IpText.Printable(text)}\" is not an IP address");
                else if (peers.Contains(peer)) reader.Error(peerPath, $"{peer} is listed twice");
                else peers.Add(peer);
            }
        }

        var holdTime = Int(reader, m, "holdTime", At("holdTime"), 0, 65_535, baseline.HoldTime);
        if (holdTime is 1 or 2)
        {
            reader.Error(At("holdTime"), "must be 0 (no keepalives) or from 3 to 65535 seconds (RFC 4271)");
        }

        var communities = new List<string>();
        if (m.TryGetValue("communities", out var communitiesNode))
        {
            foreach (var (communityNode, communityPath) in reader.Sequence(communitiesNode, At("communities")))
            {
                if (reader.String(communityNode, communityPath) is not { } text) continue;
                if (IsCommunity(text)) communities.Add(text.ToLowerInvariant());
                else reader.Error(communityPath, $"\"{IpText.Printable(text)}\" is not a community: use \"ASN:VALUE\" (each 0-65535) or {string.Join(", ", WellKnownCommunities)}");
            }
        }

        return new BgpSettings(
            Long(reader, m, "localAs", At("localAs"), 1, uint.MaxValue, baseline.LocalAs),
            Long(reader, m, "peerAs", At("peerAs"), 1, uint.MaxValue, baseline.PeerAs),
            peers.ToValueList(),
            holdTime,
            OptionalAddress(reader, m, "routerId", At("routerId"), AddressFamily.InterNetwork),
            OptionalAddress(reader, m, "localAddress", At("localAddress"), family: null),
            m.TryGetValue("nextHop", out var nextHopNode) ? ReadNextHop(reader, nextHopNode, At("nextHop")) : baseline.NextHop,
            communities.ToValueList(),
            m.TryGetValue("announce", out var announceNode) ? reader.Enum(announceNode, At("announce"), AnnounceModes) ?? baseline.Announce : baseline.Announce);
    }

    private static NextHopChoice ReadNextHop(YamlFieldReader reader, YamlNode node, string path)
    {
        var text = reader.String(node, path);
        switch (text)
        {
            case null: return BgpSettings.Default.NextHop;
            case "node": return new NextHopChoice.Node();
            case "pod": return new NextHopChoice.Pod();
        }
        if (IpText.TryParseAddress(text, out var address))
        {
            if (IpText.SpecialPurposeRange(address) is not { } range) return new NextHopChoice.Literal(address);
            reader.Error(path, $"{address} is in {range}; a next-hop must be an address the router can forward to");
            return BgpSettings.Default.NextHop;
        }
        reader.Error(path, $"must be node, pod or an IP address, got \"{IpText.Printable(text)}\"");
        return BgpSettings.Default.NextHop;
    }

    private static IPAddress? OptionalAddress(YamlFieldReader reader, IReadOnlyDictionary<string, YamlNode> m, string key, string path, AddressFamily? family)
    {
        if (!m.TryGetValue(key, out var node) || reader.String(node, path) is not { Length: > 0 } text) return null;
        if (IpText.TryParseAddress(text, out var address) && (family is null || address.AddressFamily == family))
        {
            // RFC 6286: a BGP identifier of 0 is invalid; exabgp would take it and its peers would drop the session.
            if (key == "routerId" && address.Equals(IPAddress.Any))
            {
                reader.Error(path, "0.0.0.0 is not a valid BGP identifier (RFC 6286)");
                return null;
            }
            return address;
        }
        reader.Error(path, family is AddressFamily.InterNetwork
            ? $"must be an IPv4 address (BGP identifiers are 32 bits), got \"{IpText.Printable(text)}\""
            : $"must be an IP address, got \"{IpText.Printable(text)}\"");
        return null;
    }

    private static bool IsCommunity(string text)
    {
        if (WellKnownCommunities.Contains(text, StringComparer.OrdinalIgnoreCase)) return true;
        var match = StandardCommunity().Match(text);
        return match.Success && int.Parse(match.Groups["high"].Value) <= 65_535 && int.Parse(match.Groups["low"].Value) <= 65_535;
    }

    private static int Int(YamlFieldReader reader, IReadOnlyDictionary<string, YamlNode> m, string key, string path, int min, int max, int fallback) =>
        m.TryGetValue(key, out var node) && reader.Integer(node, path, min, max) is { } value ? (int)value : fallback;

    private static long Long(YamlFieldReader reader, IReadOnlyDictionary<string, YamlNode> m, string key, string path, long min, long max, long fallback) =>
        m.TryGetValue(key, out var node) && reader.Integer(node, path, min, max) is { } value ? value : fallback;
}
