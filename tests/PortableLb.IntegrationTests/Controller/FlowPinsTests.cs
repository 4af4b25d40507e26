using System.Diagnostics;
using System.Net;
using System.Text.Json;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>
/// Flow pinning on a node, in network namespaces: a node with a pod bridge, two LB pods on it that each answer on the
/// VIP with their own name, and a client beyond the node. Connections are opened through the node's route, then the
/// route changes under them; with pins each connection still reaches the pod it started on, without them the
/// connections of a pod that left the route are reset by the other pod, which has never seen them.
/// </summary>
[CancelAfter(120_000)]
public sealed class FlowPinsTests
{
    private const int Connections = 16;
    private static readonly IPNetwork Vip = IPNetwork.Parse("198.51.100.10/32");
    private static readonly IPAddress PodA = IPAddress.Parse("10.244.1.5");
    private static readonly IPAddress PodB = IPAddress.Parse("10.244.1.6");

    private readonly List<Process> _processes = [];
    private string _id = "";

    private string Node => $"plb-pin-{_id}-n";

    private string Client => $"plb-pin-{_id}-c";

    private string Pod(IPAddress address) => $"plb-pin-{_id}-{address.GetAddressBytes()[3]}";

    /// <summary>Runs `ip` and `nft` inside the node's namespace, as the node-routes pod runs them in the node's.</summary>
    private sealed class InNamespace(string ns) : IProcessRunner
    {
        public Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken) =>
            program == "ip"
                ? new ProcessRunner().RunAsync("ip", ["-n", ns, .. arguments], environment, timeout, cancellationToken)
                : new ProcessRunner().RunAsync("ip", ["netns", "exec", ns, program, .. arguments], environment, timeout, cancellationToken);
    }

    private static async Task<string> Run(params string[] arguments)
    {
        var result = await new ProcessRunner().RunAsync(arguments[0], arguments[1..], null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That(result.ExitCode, Is.Zero, $"{string.Join(' ', arguments)}: {result.StandardError}");
        return result.StandardOutput;
    }

    [SetUp]
    public async Task Setup()
    {
        Daemons.Require("ip");
        Daemons.Require("nft");
        Daemons.Require("python3");
        Daemons.RequireRoot();
        _id = Guid.NewGuid().ToString("N")[..6];
        foreach (var ns in new[] { Node, Client, Pod(PodA), Pod(PodB) })
        {
            await Run("ip", "netns", "add", ns);
            await Run("ip", "-n", ns, "link", "set", "lo", "up");
        }
        await Run("ip", "netns", "exec", Node, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1");
        await Run("ip", "-n", Node, "link", "add", "cni0", "type", "bridge");
        await Run("ip", "-n", Node, "addr", "add", "10.244.1.1/24", "dev", "cni0");
        await Run("ip", "-n", Node, "link", "set", "cni0", "up");
        foreach (var pod in new[] { PodA, PodB })
        {
            var veth = $"veth{pod.GetAddressBytes()[3]}";
            await Run("ip", "-n", Node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", Pod(pod));
            await Run("ip", "-n", Node, "link", "set", veth, "master", "cni0", "up");
            await Run("ip", "-n", Pod(pod), "addr", "add", $"{pod}/24", "dev", "eth0");
            await Run("ip", "-n", Pod(pod), "link", "set", "eth0", "up");
            await Run("ip", "-n", Pod(pod), "route", "add", "default", "via", "10.244.1.1");
            // The pod takes the VIP as its own, as an LB pod's data plane does.
            await Run("ip", "-n", Pod(pod), "addr", "add", Vip.ToString(), "dev", "lo");
            _processes.Add(Start(Pod(pod), Server, pod.ToString()));
        }
        await Run("ip", "-n", Node, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", Client);
        await Run("ip", "-n", Node, "addr", "add", "192.168.0.1/24", "dev", "uplink");
        await Run("ip", "-n", Node, "link", "set", "uplink", "up");
        await Run("ip", "-n", Client, "addr", "add", "192.168.0.2/24", "dev", "eth0");
        await Run("ip", "-n", Client, "link", "set", "eth0", "up");
        await Run("ip", "-n", Client, "route", "add", "default", "via", "192.168.0.1");
    }

    [TearDown]
    public async Task Cleanup()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
        }
        _processes.Clear();
        foreach (var ns in new[] { Node, Client, Pod(PodA), Pod(PodB) })
        {
            await new ProcessRunner().RunAsync("ip", ["netns", "del", ns], null, TimeSpan.FromSeconds(10), CancellationToken.None);
        }
    }

    private static NodeRoute Route(params IPAddress[] via) => new(Vip, via.ToValueList());

    [TestCase(true, TestName = "With pins, every connection keeps its LB pod when that pod leaves the route, also across a restart of node-routes")]
    [TestCase(false, TestName = "Without pins, the connections of an LB pod that leaves the route are reset")]
    public async Task Connections_keep_their_pod_when_it_leaves_the_route(bool pinned)
    {
        var marks = pinned ? FlowMarks.Default : FlowMarks.Off;
        var table = Table(marks);
        IPAddress[] both = [PodA, PodB];
        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], both, CancellationToken.None), Is.Empty);
        Assert.That(table.Pinned, Is.EqualTo(pinned ? 2 : 0));

        using var client = new ClientConnections(Start(Client, Holder, Vip.BaseAddress.ToString(), Connections.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        _processes.Add(client.Process);
        var before = await client.AskAsync();
        Assert.That(before, Has.Some.EqualTo(PodA.ToString()).And.Some.EqualTo(PodB.ToString()), "the route spread the connections over both pods");

        // Pod A leaves the route (its drain over, or no longer ready) but is still on the node.
        Assert.That(await table.ApplyAsync([Route(PodB)], both, CancellationToken.None), Is.Empty);
        if (pinned)
        {
            // And node-routes restarts: the new process adopts the pins instead of renumbering them.
            var rules = await Rules();
            table = Table(marks);
            Assert.That(await table.ApplyAsync([Route(PodB)], both, CancellationToken.None), Is.Empty);
            Assert.That(await Rules(), Is.EqualTo(rules), "the restart kept every rule as it was");
        }
        var after = await client.AskAsync();
        var ofA = Enumerable.Range(0, Connections).Where(i => before[i] == PodA.ToString()).ToList();
        if (pinned)
        {
            Assert.That(after, Is.EqualTo(before), "every connection is answered by the pod it started on");
        }
        else
        {
            Assert.That(ofA.Select(i => after[i]), Is.All.Not.EqualTo(PodA.ToString()), "A's connections left A");
            Assert.That(ofA.Select(i => after[i]), Has.Some.Not.EqualTo(PodB.ToString()), "and B reset them");
        }

        // New connections follow the route.
        using var late = new ClientConnections(Start(Client, Holder, Vip.BaseAddress.ToString(), "4"));
        _processes.Add(late.Process);
        Assert.That(await late.AskAsync(), Is.All.EqualTo(PodB.ToString()));
    }

    [Test]
    public async Task A_pod_that_goes_takes_its_rule_and_table_with_it_and_what_an_earlier_run_got_wrong_is_removed()
    {
        var node = new InNamespace(Node);
        // Left by an earlier run with another mask: ours by its protocol, fit for nothing now.
        await Run("ip", "-n", Node, "rule", "add", "priority", "20100", "fwmark", "0x10/0xf0", "table", "1000", "protocol", "201");
        await Run("ip", "-n", Node, "route", "add", "default", "via", PodB.ToString(), "dev", "cni0", "table", "1000", "proto", "201");
        // Someone else's rule is never touched.
        await Run("ip", "-n", Node, "rule", "add", "priority", "20100", "fwmark", "0x20", "table", "1001");

        var table = Table(FlowMarks.Default);
        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], [PodA, PodB], CancellationToken.None), Is.Empty);
        var rules = await Rules();
        Assert.That(rules, Has.Count.EqualTo(2));
        Assert.That(rules.Select(r => r.Mask).Distinct(), Is.EqualTo(new[] { "0xf000000" }));
        Assert.That(await Run("ip", "-n", Node, "rule", "show", "fwmark", "0x20"), Does.Contain("lookup 1001"));
        Assert.That(await Run("ip", "-n", Node, "route", "show", "table", "1000"), Is.Empty);
        Assert.That((await node.RunAsync("nft", ["list", "table", "inet", FlowPins.NftTable], null, TimeSpan.FromSeconds(10), CancellationToken.None)).StandardOutput,
            Does.Contain($"rt ip nexthop {PodA}").And.Contain($"rt ip nexthop {PodB}"));

        // A rule deleted behind node-routes' back is put back at the next pass, with the same mark.
        var ofA = rules[0];
        await Run("ip", "-n", Node, "rule", "del", "priority", "20100", "table", ofA.Table);
        Assert.That(await table.ApplyAsync([Route(PodA, PodB)], [PodA, PodB], CancellationToken.None), Is.Empty);
        Assert.That(await Rules(), Is.EqualTo(rules));

        // Pod A is gone from the node: its rule and table go, B's stay.
        Assert.That(await table.ApplyAsync([Route(PodB)], [PodB], CancellationToken.None), Is.Empty);
        Assert.That((await Rules()).Select(r => r.Table), Is.EqualTo(rules.Where(r => r != ofA).Select(r => r.Table)));
        Assert.That(await Run("ip", "-n", Node, "route", "show", "table", ofA.Table), Is.Empty);

        // No LB pod left: no rule, no table of ours.
        Assert.That(await table.ApplyAsync([], [], CancellationToken.None), Is.Empty);
        Assert.That(await Rules(), Is.Empty);
        Assert.That((await node.RunAsync("nft", ["list", "table", "inet", FlowPins.NftTable], null, TimeSpan.FromSeconds(10), CancellationToken.None)).ExitCode, Is.Not.Zero);
    }

    private NodeRouteTable Table(FlowMarks marks) => new(new InNamespace(Node), resilientGroups: true, pins: new FlowPins(new InNamespace(Node), marks));

    private sealed record Rule(string Mark, string Mask, string Table);

    /// <summary>The node's rules of our protocol, by table.</summary>
    private async Task<List<Rule>> Rules() =>
        [.. JsonDocument.Parse(await Run("ip", "-n", Node, "-j", "rule", "show")).RootElement.EnumerateArray()
            .Where(r => r.TryGetProperty("protocol", out var p) && p.GetString() == "201")
            .Select(r => new Rule(r.GetProperty("fwmark").GetString()!, r.GetProperty("fwmask").GetString()!, r.GetProperty("table").GetString()!))
            .OrderBy(r => r.Table, StringComparer.Ordinal)];

    private static Process Start(string ns, string script, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip", ["netns", "exec", ns, "python3", "-u", "-c", script, .. arguments])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        return Process.Start(start)!;
    }

    /// <summary>Answers every message on every connection with the pod's name (its address).</summary>
    private const string Server = """
        import socket, sys, threading
        name = sys.argv[1].encode() + b"\n"
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", 8080))
        s.listen(64)
        def serve(c):
            while c.recv(100):
                c.sendall(name)
        while True:
            threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
        """;

    /// <summary>
    /// Opens N connections to the VIP, then, for each line on stdin, asks on every connection who answers and
    /// prints the answers as one JSON list ("reset" or the error's name for a connection that broke).
    /// </summary>
    private const string Holder = """
        import json, socket, sys, time
        conns = []
        deadline = time.monotonic() + 10
        while len(conns) < int(sys.argv[2]):
            s = socket.socket()
            s.settimeout(3)
            try:
                s.connect((sys.argv[1], 8080))
                conns.append(s)
            except ConnectionRefusedError:
                # The pods' servers may still be starting.
                s.close()
                if time.monotonic() > deadline: raise
                time.sleep(0.1)
        for _ in sys.stdin:
            answers = []
            for s in conns:
                try:
                    s.sendall(b"x")
                    answers.append(s.recv(100).decode().strip() or "closed")
                except OSError as e:
                    answers.append(type(e).__name__)
            print(json.dumps(answers), flush=True)
        """;

    /// <summary>The client process holding the connections.</summary>
    private sealed class ClientConnections(Process process) : IDisposable
    {
        public Process Process => process;

        public async Task<string[]> AskAsync()
        {
            await process.StandardInput.WriteLineAsync("ask");
            await process.StandardInput.FlushAsync();
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.That(line, Is.Not.Null, () => $"the client ended: {process.StandardError.ReadToEnd()}");
            return JsonSerializer.Deserialize<string[]>(line!)!;
        }

        public void Dispose()
        {
            if (!process.HasExited) process.Kill();
        }
    }
}
