using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using PortableLb.Common;
using PortableLb.Validation;

namespace PortableLb.IntegrationTests.Hostile;

/// <summary>
/// The keepalived shortcut (<see cref="RealServerOnlyChangeValidator"/>) against the real `keepalived -t`: 10,000
/// candidate ipvs.conf files, most of them endpoint churn on a few dozen shapes (what the shortcut exists for), the
/// rest new shapes with values keepalived judges (weights all 0, ports out of range, duplicates, special addresses,
/// mixed families, unknown schedulers). keepalived itself judges every candidate the shortcut does not; every one the
/// shortcut accepts is then checked by keepalived too, and must pass.
/// </summary>
[CancelAfter(1_200_000)]
public sealed class KeepalivedShortcutPropertyTests
{
    private static readonly int Candidates = int.TryParse(Environment.GetEnvironmentVariable("PORTABLE_LB_PROPERTY_CANDIDATES"), out var n) ? n : 10_000;

    [Test]
    public async Task Keepalived_accepts_every_candidate_the_shortcut_accepts(CancellationToken cancellationToken)
    {
        Daemons.Require("keepalived");
        var seed = int.TryParse(Environment.GetEnvironmentVariable("PORTABLE_LB_PROPERTY_SEED"), CultureInfo.InvariantCulture, out var given) ? given : Random.Shared.Next();
        await TestContext.Out.WriteLineAsync($"seed {seed} (PORTABLE_LB_PROPERTY_SEED repeats a run)");
        var random = new Random(seed);
        var keepalived = new KeepalivedValidator(new ProcessRunner());
        var judged = new JudgedByKeepalived(keepalived);
        var shortcut = new RealServerOnlyChangeValidator(judged);
        // A dozen shapes: with their variants (which real server kinds a virtual server has) they stay within what the
        // validator remembers, as a cluster's few Services do.
        var shapes = Enumerable.Range(0, 12).Select(_ => Shape.Random(random)).ToList();

        var acceptedByShortcut = new List<string>();
        int rejected = 0;
        for (var i = 0; i < Candidates; i++)
        {
            // Mostly endpoint churn on a known shape; one in ten a shape with a new value somewhere.
            var shape = random.Next(10) == 0 ? shapes[random.Next(shapes.Count)].Mutated(random) : shapes[random.Next(shapes.Count)];
            var candidate = shape.Render(random);
            var before = judged.Calls;
            var verdict = await shortcut.ValidateAsync(candidate, cancellationToken);
            if (judged.Calls == before) acceptedByShortcut.Add(candidate);
            else if (!verdict.IsValid) rejected++;
        }

        // Every candidate the shortcut accepted, judged by keepalived after all (two at a time: this machine has two cores).
        var disagreements = new ConcurrentBag<(string Config, string Output)>();
        await Parallel.ForEachAsync(acceptedByShortcut, new ParallelOptions { MaxDegreeOfParallelism = 2, CancellationToken = cancellationToken }, async (config, ct) =>
        {
            var verdict = await keepalived.ValidateAsync(config, ct);
            if (!verdict.IsValid) disagreements.Add((config, verdict.Output));
        });

        var summary = $"{Candidates} candidates: {acceptedByShortcut.Count} accepted by the shortcut, {judged.Calls} judged by keepalived ({rejected} rejected)\n"
            + "keepalived's most common reasons:\n" + string.Join("\n", judged.Reasons.OrderByDescending(r => r.Value).Take(8).Select(r => $"  {r.Value} × {r.Key}"));
        await TestContext.Out.WriteLineAsync(summary);
        Assert.That(disagreements, Is.Empty, () => $"{summary}\nkeepalived rejects what the shortcut accepted (seed {seed}):\n"
            + string.Join("\n---\n", disagreements.Take(3).Select(d => $"{d.Output}\n{d.Config}")));
        // The run means something only when both sides were exercised.
        Assert.That(acceptedByShortcut, Has.Count.GreaterThan(Candidates / 2), summary);
        Assert.That(rejected, Is.GreaterThan(50), summary);
    }

    /// <summary>Counts the checks that reach keepalived, and what its rejections said.</summary>
    private sealed class JudgedByKeepalived(IConfigValidator keepalived) : IConfigValidator
    {
        private int _calls;

        public int Calls => _calls;

        /// <summary>The first line of each rejection, with its numbers and addresses taken out, and how often.</summary>
        public ConcurrentDictionary<string, int> Reasons { get; } = new();

        public string Daemon => keepalived.Daemon;

        public async Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            var verdict = await keepalived.ValidateAsync(config, cancellationToken);
            if (!verdict.IsValid)
            {
                var reason = System.Text.RegularExpressions.Regex.Replace(verdict.Output.Split('\n')[0], @"[0-9a-f]*[0-9][0-9a-f.:]*", "#");
                Reasons.AddOrUpdate(reason, 1, (_, n) => n + 1);
            }
            return verdict;
        }
    }

    private static T Pick<T>(Random random, params T[] values) => values[random.Next(values.Length)];

    /// <summary>A value keepalived accepts or, one in <paramref name="oneIn"/> times, one it judges (a warning or an error); never when 0.</summary>
    private static T Mostly<T>(Random random, int oneIn, T[] valid, params T[] judged) => oneIn > 0 && random.Next(oneIn) == 0 ? Pick(random, judged) : Pick(random, valid);

    /// <summary>One real server's block but for its address: what the template renders, with hostile values now and then.</summary>
    private sealed record RealServerKind(bool SameFamily, string Port, string Weight, string? Upper, string Check)
    {
        public static RealServerKind Random(Random random, int oneIn) => new(
            Mostly(random, oneIn, [true], false),
            Mostly(random, oneIn, ["8080", "80"], "0", "65536"),
            Mostly(random, oneIn, ["1", "1", "3", "65535"], "0", "-1"),
            Mostly(random, oneIn, [null, "0", "5"], "-1"),
            Mostly(random, oneIn, ["", "tcp", "http"], "http-bad"));

        public void Render(StringBuilder text, string address)
        {
            text.Append(CultureInfo.InvariantCulture, $"    real_server {address} {Port} {{\n        weight {Weight}\n");
            if (Upper is not null) text.Append(CultureInfo.InvariantCulture, $"        uthreshold {Upper}\n");
            switch (Check)
            {
                case "tcp":
                    text.Append(CultureInfo.InvariantCulture, $"        TCP_CHECK {{\n            connect_timeout 3\n            connect_port {Port}\n            retry 2\n            delay_before_retry 1\n        }}\n");
                    break;
                case "http" or "http-bad":
                    var status = Check == "http" ? "200" : "99";
                    text.Append(CultureInfo.InvariantCulture, $"        HTTP_GET {{\n            url {{\n                path /healthz\n                status_code {status}\n            }}\n            connect_timeout 3\n            connect_port {Port}\n        }}\n");
                    break;
            }
            text.Append("    }\n");
        }
    }

    /// <remarks>A fwmark virtual server has no protocol line (keepalived warns about one) unless Protocol says so.</remarks>
    private sealed record VirtualServer(string Address, string Port, string Scheduler, string Kind, string? Protocol, string? Persistence, string DelayLoop, IReadOnlyList<RealServerKind> Kinds)
    {
        public bool IsIpv6 => Address.Contains(':', StringComparison.Ordinal);

        public static VirtualServer Random(Random random, int oneIn)
        {
            var address = Pick(random, "192.0.2.10", "192.0.2.11", "2001:db8::10", "fwmark 7");
            var fwmark = address.StartsWith("fwmark", StringComparison.Ordinal);
            return new(
                address,
                Mostly(random, oneIn, ["80", "443"], "0", "65536"),
                Mostly(random, oneIn, ["rr", "wrr", "lc", "mh", "sh"], "bogus"),
                Mostly(random, oneIn, ["NAT"], "DR", "TUN"),
                fwmark ? Mostly(random, oneIn, [(string?)null], "TCP") : Mostly(random, oneIn, ["TCP", "UDP"], "ICMP"),
                Mostly(random, oneIn, [null, "10800"], "0", "4294967296"),
                Mostly(random, oneIn, ["5", "1"], "0"),
                Enumerable.Range(0, random.Next(1, 3)).Select(_ => RealServerKind.Random(random, oneIn)).ToList());
        }

        /// <summary>Another real server kind, scheduler and persistence, or another virtual server: one in four values judged.</summary>
        public VirtualServer Mutated(Random random) => random.Next(3) switch
        {
            0 => this with { Kinds = [.. Kinds.Take(Kinds.Count - 1), RealServerKind.Random(random, oneIn: 4)] },
            1 => this with { Scheduler = Mostly(random, 4, ["rr", "wrr"], "bogus"), Persistence = Mostly(random, 4, [null, "60"], "0", "-5") },
            _ => Random(random, oneIn: 4),
        };

        public void Render(StringBuilder text, Random random)
        {
            var header = Address.StartsWith("fwmark", StringComparison.Ordinal) ? Address : $"{Address} {Port}";
            text.Append(CultureInfo.InvariantCulture, $"\n# default/web: churn\nvirtual_server {header} {{\n    delay_loop {DelayLoop}\n    lb_algo {Scheduler}\n    lb_kind {Kind}\n");
            if (Protocol is not null) text.Append(CultureInfo.InvariantCulture, $"    protocol {Protocol}\n");
            if (Persistence is not null) text.Append(CultureInfo.InvariantCulture, $"    persistence_timeout {Persistence}\n");
            var count = random.Next(30) == 0 ? 0 : random.Next(1, 7); // none: keepalived ignores the virtual server, a warning
            foreach (var kind in Enumerable.Range(0, count).Select(_ => random.Next(Kinds.Count)).Order().Select(i => Kinds[i]))
            {
                kind.Render(text, RealServerAddress(random, kind.SameFamily != IsIpv6));
            }
            text.Append("}\n");
        }

        /// <summary>Mostly pod addresses, sometimes one twice, a special one, or the virtual server's own.</summary>
        private string RealServerAddress(Random random, bool ipv4) => random.Next(100) switch
        {
            0 => ipv4 ? Pick(random, "127.0.0.1", "0.0.0.0", "224.0.0.9", "169.254.1.1", "255.255.255.255") : Pick(random, "::1", "fe80::1", "::ffff:10.0.0.1", "ff02::1"),
            1 when !Address.StartsWith("fwmark", StringComparison.Ordinal) => Address,
            2 => ipv4 ? "10.244.1.1" : "fd00::1",
            _ => ipv4 ? $"10.244.{random.Next(1, 4)}.{random.Next(1, 250)}" : $"fd00::{random.Next(1, 0xffff):x}",
        };
    }

    private sealed record Shape(bool ReloadFile, IReadOnlyList<VirtualServer> VirtualServers)
    {
        /// <summary>A shape keepalived accepts, so that the churn on it is what the shortcut sees in a cluster.</summary>
        public static Shape Random(Random random) => new(random.Next(2) == 0, Enumerable.Range(0, random.Next(1, 4)).Select(_ => VirtualServer.Random(random, oneIn: 0)).ToList());

        public Shape Mutated(Random random)
        {
            var index = random.Next(VirtualServers.Count);
            return this with { VirtualServers = [.. VirtualServers.Select((vs, i) => i == index ? vs.Mutated(random) : vs)] };
        }

        public string Render(Random random)
        {
            var text = new StringBuilder("# ipvs.conf: keepalived virtual servers, rendered by PortableLb.\n");
            if (ReloadFile) text.Append("\nglobal_defs {\n    reload_file /run/portable-lb/ipvs.reload\n}\n");
            foreach (var vs in VirtualServers) vs.Render(text, random);
            return text.ToString();
        }
    }
}
