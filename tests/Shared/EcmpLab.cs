using System.Text.Json;

namespace PortableLb.Testing;

/// <summary>
/// tests/ecmp/ecmp-lab.sh from C#: the thesis' redundancy topology in network namespaces (FRR router, gobgpd route
/// reflector, LB pods running portable-lb with its supervised keepalived + exabgp, web pods), inside a VM whose kernel
/// has IPVS: an LB pod announces only what its keepalived has programmed. Shared by EcmpTests and the ecmp
/// benchmark. Disposing tears everything down, even after a failed test.
/// </summary>
public sealed class EcmpLab : IAsyncDisposable
{
    public const string ServiceA = "10.1.1.10";
    public const string ServiceB = "10.1.2.10";
    private readonly VmSession _vm;
    private readonly string _environment;

    private EcmpLab(VmSession vm, string directory, string environment)
    {
        _vm = vm;
        Directory = directory;
        _environment = environment;
    }

    public string Directory { get; }
    public string Name => Path.GetFileName(Directory);

    /// <summary>The LB pods' node addresses, which are their next hops at the router.</summary>
    public static string NodeOf(int lb) => $"10.99.0.1{lb}";

    /// <param name="vm">The VM the lab runs in (its folder is under the VM's shared results, so logs read here).</param>
    /// <param name="portableLb">The command that runs portable-lb (e.g. "dotnet /path/portable-lb.dll").</param>
    /// <param name="holdTime">BGP hold time between the LB pods and the reflector, in seconds (exabgp's minimum is 3).</param>
    public static async Task<EcmpLab> StartAsync(VmSession vm, string portableLb, int holdTime)
    {
        var directory = System.IO.Directory.CreateDirectory(Path.Combine(vm.Results, "ecmp")).FullName;
        var lab = new EcmpLab(vm, directory, $"export PORTABLE_LB={Quote(portableLb)} HOLD_TIME={holdTime}; ");
        try
        {
            await vm.MustAsync("modprobe ip_vs");
            await lab.RunAsync("up");
            await lab.Run("ip", "netns", "exec", $"{lab.Name}-rtr", "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1");
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
        return lab;
    }

    /// <summary>The command for the portable-lb build beside the caller: the published binary if PORTABLE_LB_BINARY names one.</summary>
    public static string PortableLbCommand() => Environment.GetEnvironmentVariable("PORTABLE_LB_BINARY") is { Length: > 0 } binary
        ? binary
        : $"{Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet"} {Path.Combine(AppContext.BaseDirectory, "portable-lb.dll")}";

    public Task StartLbAsync(int lb, params string[] services) => RunAsync(["lb-start", lb.ToString(System.Globalization.CultureInfo.InvariantCulture), .. services]);
    public Task StopLbAsync(int lb) => RunAsync("lb-stop", lb.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public Task FreezeExabgpAsync(int lb) => RunAsync("lb-kill", lb.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public Task UnlinkAsync(int lb) => RunAsync("lb-unlink", lb.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public Task CleanLbAsync(int lb) => RunAsync("lb-clean", lb.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public Task SetEndpointsAsync(string service, bool serving) => RunAsync("endpoints", service, serving ? "true" : "false");

    /// <summary>The next hops of the router's kernel route to the address, sorted; empty when there is no route.</summary>
    public async Task<IReadOnlyList<string>> NextHopsAsync(string address)
    {
        var output = await Run("ip", "-n", $"{Name}-rtr", "route", "show", address);
        var hops = new List<string>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var words = line.Split(' ');
            var via = Array.IndexOf(words, "via");
            if (via >= 0 && via + 1 < words.Length) hops.Add(words[via + 1]);
        }
        return hops.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>The route reflector's established sessions: peer → when it came up (Unix seconds).</summary>
    public async Task<IReadOnlyDictionary<string, long>> SessionsAsync()
    {
        using var document = JsonDocument.Parse(await Run("ip", "netns", "exec", $"{Name}-rr", "gobgp", "-u", "10.99.0.2", "neighbor", "-j"));
        var sessions = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var peer in document.RootElement.EnumerateArray())
        {
            var state = peer.GetProperty("state");
            if (state.GetProperty("session_state").GetInt32() != 6) continue;
            sessions[state.GetProperty("neighbor_address").GetString()!] = peer.GetProperty("timers").GetProperty("state").GetProperty("uptime").GetProperty("seconds").GetInt64();
        }
        return sessions;
    }

    /// <summary>Where the router sends each of `flows` TCP flows to the address (L4 multipath hashing is on).</summary>
    public async Task<IReadOnlyList<string>> FlowNextHopsAsync(string address, int flows)
    {
        // One look per flow, all in one command: each command is a round trip into the VM.
        // TCP by its number: names need /etc/protocols, which a minimal Debian root (netbase) lacks.
        var output = await _vm.MustAsync($"for port in $(seq 20000 {20_000 + flows - 1}); do ip -n {Name}-rtr route get {address} ipproto 6 sport $port dport 80; done");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(words => Array.IndexOf(words, "via") >= 0)
            .Select(words => words[Array.IndexOf(words, "via") + 1])
            .ToList();
    }

    /// <summary>When LB `lb`'s controller last replaced exabgp.conf: the end of its own share of a change.</summary>
    public DateTime ExabgpConfWritten(int lb) => File.GetLastWriteTimeUtc(Path.Combine(Directory, $"lb{lb}", "exabgp.conf"));

    public async Task<string> LogsAsync()
    {
        var logs = Path.Combine(Directory, "logs");
        if (!System.IO.Directory.Exists(logs)) return "";
        var tails = new List<string>();
        foreach (var file in System.IO.Directory.EnumerateFiles(logs).Order(StringComparer.Ordinal))
        {
            var lines = await File.ReadAllLinesAsync(file);
            tails.Add($"--- {Path.GetFileName(file)}\n{string.Join("\n", lines.TakeLast(15))}");
        }
        return string.Join("\n", tails);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync("down");
        }
        finally
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private Task RunAsync(params string[] arguments) =>
        Run(["bash", Repository.Path("tests", "ecmp", "ecmp-lab.sh"), arguments[0], Directory, .. arguments[1..]]);

    /// <summary>A command in the VM; its output, or an exception with it when it fails.</summary>
    private async Task<string> Run(params string[] command) =>
        (await _vm.MustAsync(_environment + string.Join(" ", command.Select(Quote)), TimeSpan.FromMinutes(3))).Trim();

    private static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
