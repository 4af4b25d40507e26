using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using PortableLb.Common;
using PortableLb.IntegrationTests.Controller;
using PortableLb.Model;

namespace PortableLb.IntegrationTests.L2;

/// <summary>
/// L2 mode's segment, in network namespaces this lab makes and deletes: a switch (a bridge in a namespace of its
/// own), LB "nodes" whose eth0 is a port of it, and a client on it. Each node runs what an L2-mode LB pod runs in
/// the host network: `portable-lb render` (the controller's pipeline, validated by the real `keepalived -t` there)
/// and the real keepalived on that ipvs.conf. keepalived runs with -P (VRRP only): this kernel has no IPVS, and
/// without it keepalived's checker process exits and takes VRRP down with it. A small HTTP server on each node
/// stands where IPVS takes the VIP's packets on a kernel with it, and says which node answered.
/// </summary>
public sealed class L2Lab : IAsyncDisposable
{
    public const string Subnet = "172.18.0";
    public const string Subnet6 = "fd00:18::";
    public const int Port = 8080;

    private readonly string _id = Guid.NewGuid().ToString("N")[..6];
    private readonly string _folder = Directory.CreateTempSubdirectory("portable-lb-l2-").FullName;
    private readonly List<string> _namespaces = [];
    private readonly List<Process> _processes = [];

    public List<L2Node> Nodes { get; } = [];
    public string Switch => $"plb-l2-{_id}-sw";
    public string Client => $"plb-l2-{_id}-cl";
    public IReadOnlyList<IPAddress> Vips { get; private set; } = [];

    /// <summary>The tuning every node renders with; the interface is left to each pod to find (the one with its address).</summary>
    public string Tuning { get; set; } = "mode: l2\nl2: {advertInterval: 1, preemptDelay: 2}\nstatus: {ipMode: Proxy}\n";

    public static async Task<L2Lab> StartAsync(int nodes, IReadOnlyList<IPAddress> vips)
    {
        Daemons.RequireRoot();
        Daemons.Require("ip", "keepalived", "python3", "curl");
        var lab = new L2Lab { Vips = vips };
        try
        {
            await lab.AddNamespaceAsync(lab.Switch);
            await Run("ip", "-n", lab.Switch, "link", "add", "br0", "type", "bridge");
            await Run("ip", "-n", lab.Switch, "link", "set", "br0", "up");
            await lab.PlugAsync(lab.Client, "cl", 100);
            for (var i = 1; i <= nodes; i++) await lab.AddNodeAsync();
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    /// <summary>A node on the segment with its stand-in server; its LB pod is not started (see <see cref="StartPodsAsync"/>).</summary>
    public async Task<L2Node> AddNodeAsync()
    {
        var index = Nodes.Count + 1;
        var node = new L2Node($"node-{index}", $"lb-{index}", $"plb-l2-{_id}-n{index}", IPAddress.Parse($"{Subnet}.{index + 1}"), IPAddress.Parse($"{Subnet6}{index + 1}"),
            Directory.CreateDirectory(Path.Combine(_folder, $"node-{index}")).FullName);
        await PlugAsync(node.Namespace, $"n{index}", index + 1);
        node.Mac = (await Output("ip", "-n", node.Namespace, "-br", "link", "show", "eth0")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        await File.WriteAllTextAsync(Path.Combine(node.Folder, "index.html"), node.Name);
        _processes.Add(Start(["ip", "netns", "exec", node.Namespace, "python3", "-m", "http.server", Port.ToString(), "--bind", "::", "--directory", node.Folder], new List<string>()));
        Nodes.Add(node);
        return node;
    }

    /// <summary>The objects every pod reads: a Service per VIP with a ready endpoint, and the LB pods that are up.</summary>
    public string Objects()
    {
        var text = new StringBuilder();
        for (var i = 0; i < Vips.Count; i++)
        {
            var family = Vips[i].AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "IPv4" : "IPv6";
            var endpoint = family == "IPv4" ? $"10.244.9.{i + 1}" : $"\"fd00:244::{i + 1}\"";
            text.Append($$"""
                apiVersion: v1
                kind: Service
                metadata: {name: s{{i}}, namespace: default, annotations: {portable-lb.io/addresses: "{{Vips[i]}}" } }
                spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, ports: [{port: 80}]}
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: s{{i}}-1, namespace: default, labels: {kubernetes.io/service-name: s{{i}} } }
                addressType: {{family}}
                ports: [{port: 80}]
                endpoints: [{addresses: [{{endpoint}}]}]
                ---

                """);
        }
        foreach (var node in Nodes.Where(n => n.Member))
        {
            text.Append($$"""
                apiVersion: v1
                kind: Pod
                metadata: {name: {{node.Pod}}, namespace: portable-lb, labels: {app.kubernetes.io/name: portable-lb } }
                spec: {nodeName: {{node.Name}}, hostNetwork: true}
                status: {podIP: {{node.Address}}, podIPs: [{ip: {{node.Address}} }, {ip: "{{node.Address6}}"}], conditions: [{type: Ready, status: "True"}]}
                ---

                """);
        }
        return text.ToString();
    }

    /// <summary>The masters every pod should compute, from the same inputs (the ready pods), by family.</summary>
    public Dictionary<IPAddress, VipOrder> Expected()
    {
        var members = Nodes.Where(n => n.Member).ToList();
        return Vips.GroupBy(v => v.AddressFamily)
            .SelectMany(g => MasterAssignment.Assign(g.ToList(), members.Select(n => new L2Member(n.Pod, n.Name, g.Key == System.Net.Sockets.AddressFamily.InterNetwork ? n.Address : n.Address6)).ToList()))
            .ToDictionary(o => o.Vip);
    }

    /// <summary>`portable-lb render` in the node's namespace, as the pod's controller renders, then keepalived -t there.</summary>
    public async Task RenderAsync(L2Node node)
    {
        var objects = Path.Combine(node.Folder, "objects.yaml");
        var tuning = Path.Combine(node.Folder, "tuning.yaml");
        await File.WriteAllTextAsync(objects, Objects());
        await File.WriteAllTextAsync(tuning, Tuning);
        IEnumerable<string> program = ControllerProcess.PublishedBinary is { } binary ? [binary] : [Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "portable-lb.dll")];
        var result = await new ProcessRunner().RunAsync("ip", ["netns", "exec", node.Namespace, .. program, "render", "--objects", objects, "--tuning", tuning,
            "--node-ip", node.Address.ToString(), "--node-ip", node.Address6.ToString(), "--pod-ip", node.Address.ToString(), "--pod-ip", node.Address6.ToString(), "--out", node.Folder],
            null, TimeSpan.FromSeconds(60), CancellationToken.None);
        Assert.That(result.ExitCode, Is.Zero, $"render on {node.Name}: {result.StandardOutput}\n{result.StandardError}");
        Assert.That(result.StandardOutput, Does.Contain("validated ipvs.conf with keepalived -t: ok"));
    }

    /// <summary>
    /// The pods come up (ready, so listed as members), and every running pod renders the new list and reloads
    /// (SIGHUP) as its controller would on the Pod watch's change.
    /// </summary>
    public async Task StartPodsAsync(params L2Node[] starting)
    {
        foreach (var node in starting) node.Member = true;
        foreach (var node in Nodes.Where(n => n.Member))
        {
            await RenderAsync(node);
            if (node.Keepalived is { HasExited: false }) await ReloadAsync(node);
            else StartKeepalived(node);
        }
    }

    /// <summary>The running pods see the list change (a pod gone or back) and render it.</summary>
    public async Task RerenderAsync()
    {
        foreach (var node in Nodes.Where(n => n.Member && n.Keepalived is { HasExited: false }))
        {
            await RenderAsync(node);
            await ReloadAsync(node);
        }
    }

    private void StartKeepalived(L2Node node)
    {
        lock (node.Output) node.Output.Clear();
        node.Keepalived = Start(["ip", "netns", "exec", node.Namespace, "keepalived", "-P", "-n", "-l", "-D", "-f", Path.Combine(node.Folder, "ipvs.conf"),
            "-p", Path.Combine(node.Folder, "keepalived.pid"), "-r", Path.Combine(node.Folder, "vrrp.pid"),
            "-c", Path.Combine(node.Folder, "checkers.pid"), "-b", Path.Combine(node.Folder, "bfd.pid")], node.Output);
    }

    public static async Task ReloadAsync(L2Node node) => await Run("kill", "-HUP", node.Keepalived!.Id.ToString());

    /// <summary>The node is lost: its keepalived dies at once (no goodbye advert) and its link goes down.</summary>
    public static async Task FailAsync(L2Node node)
    {
        node.Killed = [.. new[] { "keepalived.pid", "vrrp.pid" }.Select(f => Path.Combine(node.Folder, f)).Where(File.Exists)
            .Select(f => int.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture))];
        node.Keepalived!.Kill(entireProcessTree: true);
        await node.Keepalived.WaitForExitAsync();
        await Run("ip", "-n", node.Namespace, "link", "set", "eth0", "down");
        node.Member = false;
    }

    /// <summary>The pod is stopped as the kubelet stops it: SIGTERM, and keepalived sends its priority-0 advert and drops its VIPs.</summary>
    public static async Task StopAsync(L2Node node)
    {
        await Run("kill", "-TERM", node.Keepalived!.Id.ToString());
        await node.Keepalived.WaitForExitAsync();
        node.Member = false;
    }

    public static async Task RecoverAsync(L2Node node)
    {
        await Run("ip", "-n", node.Namespace, "link", "set", "eth0", "up");
        // A killed keepalived leaves its VIPs behind; the restarted one removes them at start, as in a pod.
        // Its VRRP process was orphaned and stays a zombie until init reaps it, here seconds later; keepalived takes a
        // pid in its pid files that still exists for a live daemon and exits ("daemon is already running"). In the
        // pod, tini reaps at once and the supervisor restarts keepalived with backoff; this lab starts it once.
        await WaitAsync(() => Task.FromResult(node.Killed.All(pid => !Directory.Exists($"/proc/{pid}"))), TimeSpan.FromSeconds(60),
            $"the killed keepalived's processes ({string.Join(", ", node.Killed)}) reaped");
    }

    /// <summary>The nodes whose eth0 holds <paramref name="vip"/> now.</summary>
    public async Task<List<L2Node>> HoldersAsync(IPAddress vip)
    {
        var holders = new List<L2Node>();
        foreach (var node in Nodes)
        {
            var addresses = await Output("ip", "-n", node.Namespace, "-br", "addr", "show", "eth0");
            if (addresses.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(a => a.Split('/')[0] == vip.ToString()) && addresses.Contains(" UP ")) holders.Add(node);
        }
        return holders;
    }

    /// <summary>Which node answers the client at the VIP (its server's page names it), or null.</summary>
    public async Task<string?> AnswerAsync(IPAddress vip)
    {
        var host = vip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? vip.ToString() : $"[{vip}]";
        var result = await new ProcessRunner().RunAsync("ip", ["netns", "exec", Client, "curl", "-s", "--max-time", "1", $"http://{host}:{Port}/index.html"], null, TimeSpan.FromSeconds(5), CancellationToken.None);
        return result.ExitCode == 0 ? result.StandardOutput.Trim() : null;
    }

    /// <summary>The link-layer address the client's neighbour table has for the VIP (ARP or NDP), or null.</summary>
    public async Task<string?> NeighbourAsync(IPAddress vip)
    {
        var line = await Output("ip", "-n", Client, "neigh", "show", vip.ToString());
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var at = Array.IndexOf(words, "lladdr");
        return at >= 0 && at + 1 < words.Length ? words[at + 1] : null;
    }

    public static Task<TimeSpan> WaitAsync(Func<Task<bool>> condition, TimeSpan limit, string what) => WaitAsync(condition, limit, () => Task.FromResult(what));

    /// <summary>As above; <paramref name="what"/> is asked for only on a timeout, so it can show the state then.</summary>
    public static async Task<TimeSpan> WaitAsync(Func<Task<bool>> condition, TimeSpan limit, Func<Task<string>> what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit) Assert.Fail($"{await what()}: not within {limit.TotalSeconds} s");
            await Task.Delay(20);
        }
        return clock.Elapsed;
    }

    public string Logs(L2Node node)
    {
        lock (node.Output) return string.Join("\n", node.Output.TakeLast(40));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes.Concat(Nodes.Select(n => n.Keepalived).OfType<Process>()))
        {
            try
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
        foreach (var ns in _namespaces) await new ProcessRunner().RunAsync("ip", ["netns", "del", ns], null, TimeSpan.FromSeconds(10), CancellationToken.None);
        Directory.Delete(_folder, recursive: true);
    }

    private async Task AddNamespaceAsync(string ns)
    {
        await Run("ip", "netns", "add", ns);
        _namespaces.Add(ns);
        await Run("ip", "-n", ns, "link", "set", "lo", "up");
    }

    /// <summary>A namespace whose eth0 is a port of the switch, with .host in both subnets (no DAD: the lab owns the segment).</summary>
    private async Task PlugAsync(string ns, string port, int host)
    {
        await AddNamespaceAsync(ns);
        await Run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
        await Run("ip", "-n", Switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
        await Run("ip", "-n", Switch, "link", "set", port, "master", "br0", "up");
        await Run("ip", "-n", ns, "addr", "add", $"{Subnet}.{host}/24", "dev", "eth0");
        await Run("ip", "-n", ns, "addr", "add", $"{Subnet6}{host}/64", "dev", "eth0", "nodad");
        await Run("ip", "-n", ns, "link", "set", "eth0", "up");
    }

    private Process Start(IReadOnlyList<string> command, List<string> output)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.Skip(1)) start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task Run(params string[] command) => await Output(command);

    private static async Task<string> Output(params string[] command)
    {
        var result = await new ProcessRunner().RunAsync(command[0], command[1..], null, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.That(result.ExitCode, Is.Zero, $"{string.Join(" ", command)}: {result.StandardError}");
        return result.StandardOutput;
    }
}

/// <summary>An LB node of the lab; <see cref="Member"/> when its pod is up and ready, as the pod list shows it.</summary>
public sealed class L2Node(string name, string pod, string ns, IPAddress address, IPAddress address6, string folder)
{
    public string Name { get; } = name;
    public string Pod { get; } = pod;
    public string Namespace { get; } = ns;
    public IPAddress Address { get; } = address;
    public IPAddress Address6 { get; } = address6;
    public string Folder { get; } = folder;
    public string Mac { get; set; } = "";
    public bool Member { get; set; }
    public Process? Keepalived { get; set; }

    /// <summary>The pids of the keepalived processes <see cref="L2Lab.FailAsync"/> killed last.</summary>
    public IReadOnlyList<int> Killed { get; set; } = [];
    public List<string> Output { get; } = [];

    public override string ToString() => Name;
}
