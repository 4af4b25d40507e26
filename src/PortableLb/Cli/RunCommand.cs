using System.CommandLine;
using Microsoft.Extensions.Hosting;
using System.Net;
using PortableLb.Model;

namespace PortableLb.Cli;

/// <summary>
/// `portable-lb run`: the long-running sidecar. Every flag also reads PORTABLE_LB_&lt;FLAG&gt; (upper case, dashes as
/// underscores; repeatable flags take a comma-separated list), so manifests can set them from the downward API.
/// </summary>
public static class RunCommand
{
    public static Command Create(TextWriter errorOutput)
    {
        var objects = Repeatable("--objects", "Manifest folders or files: run without a cluster.");
        var kubeconfig = Single("--kubeconfig", "kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config).");
        var context = Single("--context", "kubeconfig context (default: current-context).");
        var services = Repeatable("--service", "Only these Services (NAMESPACE/NAME); repeatable.");
        var selector = Single("--service-selector", "Only Services with these labels (a label selector).");
        var tuning = Single("--tuning", "config.yaml with the tuning schema (for --objects).");
        var tuningConfigMap = Single("--tuning-configmap", "NAMESPACE/NAME of the tuning ConfigMap (data key config.yaml).");
        var nodeIps = Repeatable("--node-ip", "This node's IP, once per family: the default BGP next-hop.");
        var podIps = Repeatable("--pod-ip", "This pod's IP, once per family: BGP router-id and local-address.");
        var configDir = Single("--config-dir", "Where ipvs.conf and exabgp.conf are written (the shared volume).", "/run/portable-lb");
        var templates = Single("--templates", "Folder with ipvs.conf.hbs and exabgp.conf.hbs overriding the built-in templates.");
        var keepalived = Single("--keepalived", "supervise (start keepalived here) or pidfile (keepalived runs beside us).", "pidfile");
        var keepalivedPid = Single("--keepalived-pidfile", "keepalived's pid file on the shared volume.", "/run/portable-lb/keepalived.pid");
        var exabgpPid = Single("--exabgp-pidfile", "exabgp's pid file on the shared volume.", "/run/portable-lb/exabgp.pid");
        var exabgpLog = Single("--exabgp-log", "exabgp's log file on the shared volume.");
        var grace = Single("--withdraw-grace", "Seconds between withdrawing the routes and stopping, on SIGTERM.", "5");
        var listen = Single("--listen", "HOST:PORT for /healthz, /readyz and /metrics.", ":9101");
        var debounce = Single("--debounce", "Milliseconds to let a burst of changes settle before reconciling.", "30");
        var bgpPassword = Single("--bgp-password-secret", "Secret with the BGP TCP-MD5 password in data key `password` (NAME; NS/NAME with --objects).");
        var dataPlane = Single("--data-plane", "on: manage local routes, packet marks and IPVS sysctls in this pod's network namespace; off: leave them alone.", "on");

        var command = new Command("run", "Watch the cluster (or --objects) and keep keepalived's and exabgp's configs in step with it.")
        {
            objects, kubeconfig, context, services, selector, tuning, tuningConfigMap, nodeIps, podIps, configDir, templates,
            keepalived, keepalivedPid, exabgpPid, exabgpLog, grace, listen, debounce, dataPlane, bgpPassword,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = new List<string>();
            var options = new RunOptions(
                parse.GetValue(objects)!,
                parse.GetValue(kubeconfig),
                parse.GetValue(context),
                ServiceNames(parse.GetValue(services)!, problems),
                parse.GetValue(selector),
                parse.GetValue(tuning),
                parse.GetValue(tuningConfigMap) is { } cm ? NamespacedName(cm, "--tuning-configmap", problems) : null,
                Addresses(parse.GetValue(nodeIps)!, "--node-ip", problems),
                Addresses(parse.GetValue(podIps)!, "--pod-ip", problems),
                parse.GetValue(configDir)!,
                parse.GetValue(templates),
                parse.GetValue(keepalived) switch
                {
                    "pidfile" => KeepalivedLayout.Pidfile,
                    "supervise" => KeepalivedLayout.Supervise,
                    var other => Problem(problems, $"--keepalived: \"{other}\" is not supervise or pidfile", KeepalivedLayout.Pidfile),
                },
                parse.GetValue(keepalivedPid)!,
                parse.GetValue(exabgpPid)!,
                parse.GetValue(exabgpLog),
                TimeSpan.FromSeconds(Number(parse.GetValue(grace)!, "--withdraw-grace", 0, 3600, problems)),
                Endpoint(parse.GetValue(listen)!, problems),
                TimeSpan.FromMilliseconds(Number(parse.GetValue(debounce)!, "--debounce", 0, 10_000, problems)))
            {
                ManageDataPlane = parse.GetValue(dataPlane) switch
                {
                    "on" => true,
                    "off" => false,
                    var other => Problem(problems, $"--data-plane: \"{other}\" is not on or off", true),
                },
                BgpPasswordSecret = parse.GetValue(bgpPassword),
            };
            if (options.Objects.Count > 0 && options.Kubeconfig is not null) problems.Add("--objects and --kubeconfig exclude each other");
            if (options.TuningFile is not null && options.TuningConfigMap is not null) problems.Add("--tuning and --tuning-configmap exclude each other");
            var node = NodeAddresses.FromLists(options.NodeIps, options.PodIps, out var nodeErrors);
            problems.AddRange(nodeErrors);
            if (problems.Count > 0)
            {
                foreach (var problem in problems) await errorOutput.WriteLineAsync($"error: {problem}").ConfigureAwait(false);
                return ExitCodes.Fatal;
            }

            Directory.CreateDirectory(options.ConfigDirectory);
            await using var app = RunHost.Build(options, node);
            try
            {
                // The host handles SIGTERM itself and runs the withdraw → wait → stop sequence before it exits.
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Kubernetes.Config.KubernetesConfigException e)
            {
                await errorOutput.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Fatal;
            }
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static string EnvironmentName(string flag) => "PORTABLE_LB_" + flag.TrimStart('-').Replace('-', '_').ToUpperInvariant();

    private static Option<string?> Single(string name, string description, string? fallback = null) => new(name)
    {
        Description = $"{description} [env: {EnvironmentName(name)}]",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(EnvironmentName(name)) is { Length: > 0 } fromEnvironment ? fromEnvironment : fallback,
    };

    private static Option<string[]> Repeatable(string name, string description) => new(name)
    {
        Description = $"{description} [env: {EnvironmentName(name)}, comma-separated]",
        DefaultValueFactory = _ => (Environment.GetEnvironmentVariable(EnvironmentName(name)) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
    };

    private static T Problem<T>(List<string> problems, string problem, T fallback)
    {
        problems.Add(problem);
        return fallback;
    }

    private static int Number(string text, string option, int min, int max, List<string> problems) =>
        int.TryParse(text, out var value) && value >= min && value <= max ? value : Problem(problems, $"{option}: \"{IpText.Printable(text)}\" is not a whole number from {min} to {max}", min);

    private static IPEndPoint Endpoint(string text, List<string> problems)
    {
        var colon = text.LastIndexOf(':');
        var host = colon <= 0 ? "" : text[..colon].Trim('[', ']');
        if (colon >= 0 && int.TryParse(text[(colon + 1)..], out var port) && port is >= 0 and <= 65_535)
        {
            if (host.Length == 0) return new IPEndPoint(IPAddress.Any, port);
            if (IpText.TryParseAddress(host, out var address)) return new IPEndPoint(address, port);
        }
        return Problem(problems, $"--listen: \"{IpText.Printable(text)}\" is not HOST:PORT (HOST an IP address or empty for all; PORT 0 picks a free one)", new IPEndPoint(IPAddress.Any, 9101));
    }

    internal static List<IPAddress> Addresses(IEnumerable<string> values, string option, List<string> problems)
    {
        var result = new List<IPAddress>();
        foreach (var value in values)
        {
            if (IpText.TryParseAddress(value, out var address)) result.Add(address);
            else problems.Add($"{option}: \"{IpText.Printable(value)}\" is not an IP address");
        }
        return result;
    }

    internal static List<ServiceName> ServiceNames(IEnumerable<string> values, List<string> problems) =>
        values.Select(v => NamespacedName(v, "--service", problems)).OfType<(string, string)>().Select(n => new ServiceName(n.Item1, n.Item2)).ToList();

    private static (string Namespace, string Name)? NamespacedName(string value, string option, List<string> problems)
    {
        if (value.Split('/') is [{ Length: > 0 } ns, { Length: > 0 } name]) return (ns, name);
        problems.Add($"{option}: \"{IpText.Printable(value)}\" is not NAMESPACE/NAME");
        return null;
    }
}
