using System.Diagnostics;
using System.Text.Json;

namespace PortableLb.IntegrationTests.Bgp;

/// <summary>
/// A network namespace of the test's own with a real gobgpd as the BGP peer (192.0.2.2) and room for a real exabgp
/// as the LB pod (192.0.2.1). Both addresses live on the namespace's loopback; nothing leaves it. Disposing kills
/// every process it started and deletes the namespace, even after a failed test.
/// </summary>
public sealed class BgpLab : IAsyncDisposable
{
    public const string LbAddress = "192.0.2.1";
    public const string PeerAddress = "192.0.2.2";
    private const string Api = PeerAddress + ":50051";

    private readonly List<Process> _processes = [];

    private BgpLab(string name, string folder)
    {
        Namespace = name;
        Folder = folder;
    }

    public string Namespace { get; }
    public string Folder { get; }

    public static async Task<BgpLab> StartAsync(string folder)
    {
        var lab = new BgpLab($"plb-{Guid.NewGuid().ToString("N")[..8]}", folder);
        await Run("ip", "netns", "add", lab.Namespace);
        try
        {
            await Run("ip", "-n", lab.Namespace, "link", "set", "lo", "up");
            await Run("ip", "-n", lab.Namespace, "addr", "add", $"{LbAddress}/32", "dev", "lo");
            await Run("ip", "-n", lab.Namespace, "addr", "add", $"{PeerAddress}/32", "dev", "lo");
            var config = Path.Combine(folder, "gobgpd.yaml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  config: {"{"}as: 65021, router-id: {PeerAddress}, port: 179, local-address-list: [{PeerAddress}]{"}"}
                neighbors:
                  - config: {"{"}neighbor-address: {LbAddress}, peer-as: 65021{"}"}
                    transport: {"{"}config: {"{"}passive-mode: true{"}"}{"}"}
                """);
            lab.Start("gobgpd", ["-t", "yaml", "-f", config, "--api-hosts", Api, "-p"], Path.Combine(folder, "gobgpd.log"));
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    /// <summary>exabgp as the exabgp container runs it: foreground, pid and log files on the shared folder, no listener, no CLI pipes.</summary>
    public Process StartExabgp(string config, string pidFile, string logFile) => Start("env",
    [
        "exabgp_daemon_daemonize=false", $"exabgp_daemon_pid={pidFile}", $"exabgp_log_destination={logFile}", "exabgp_tcp_bind=",
        "exabgp_api_cli=false", "exabgp_daemon_user=root", "exabgp_daemon_drop=false", "exabgp", config,
    ], Path.Combine(Folder, "exabgp.stdout"));

    public async Task<IReadOnlyList<string>> RoutesAsync()
    {
        var json = await Gobgp("global", "rib", "-a", "ipv4", "-j");
        using var document = JsonDocument.Parse(json.Length == 0 ? "{}" : json);
        return document.RootElement.EnumerateObject().Select(p => p.Name).ToList();
    }

    /// <summary>When the session to the LB came up (gobgp's uptime is that instant), or null when it is not up.</summary>
    public async Task<long?> EstablishedAtAsync()
    {
        using var document = JsonDocument.Parse(await Gobgp("neighbor", "-j"));
        var peer = document.RootElement.EnumerateArray().FirstOrDefault();
        if (peer.ValueKind != JsonValueKind.Object || peer.GetProperty("state").GetProperty("session_state").GetInt32() != 6) return null;
        return peer.GetProperty("timers").GetProperty("state").GetProperty("uptime").GetProperty("seconds").GetInt64();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            process.Dispose();
        }
        await Run("ip", "netns", "del", Namespace);
    }

    private Process Start(string program, IReadOnlyList<string> arguments, string logFile)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "netns", "exec", Namespace, program }.Concat(arguments)) start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        var log = new StreamWriter(logFile) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.Exited += (_, _) => { lock (log) log.Dispose(); };
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return process;
    }

    private Task<string> Gobgp(params string[] arguments) => Run(["ip", "netns", "exec", Namespace, "gobgp", "-u", PeerAddress, "-p", "50051", .. arguments]);

    private static Task<string> Run(params string[] command) => HostCommand.RunAsync(command);
}
