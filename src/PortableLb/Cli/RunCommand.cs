using System.CommandLine;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PortableLb.Common;
using PortableLb.Kubernetes.Config;

namespace PortableLb.Cli;

/// <summary>
/// `portable-lb run`: the long-running sidecar. Every flag also reads PORTABLE_LB_&lt;FLAG&gt; (upper case, dashes as
/// underscores; repeatable flags take a comma-separated list), so manifests can set them from the downward API.
/// Every check of the flags happens here, before anything starts; <see cref="RunHost"/> only wires.
/// </summary>
public static class RunCommand
{
    public static Command Create(TextWriter errorOutput)
    {
        var factory = new OptionFactory(fromEnvironment: true);
        var common = new CommonOptions(factory, "Manifest folders or files: run without a cluster.");
        var kubeconfig = factory.Single("--kubeconfig", "kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config).");
        var context = factory.Single("--context", "kubeconfig context (default: current-context).");
        var selector = factory.Single("--service-selector", "Only Services with these labels (a label selector).");
        var configDir = factory.Single("--config-dir", "Where ipvs.conf and exabgp.conf are written (the shared volume).", "/run/portable-lb");
        var keepalived = factory.Single("--keepalived", "supervise (start keepalived here) or pidfile (keepalived runs beside us).", "pidfile");
        var keepalivedPid = factory.Single("--keepalived-pidfile", "keepalived's pid file on the shared volume.", "/run/portable-lb/keepalived.pid");
        var exabgpPid = factory.Single("--exabgp-pidfile", "exabgp's pid file on the shared volume.", "/run/portable-lb/exabgp.pid");
        var exabgpLog = factory.Single("--exabgp-log", "exabgp's log file on the shared volume.");
        var grace = factory.Single("--withdraw-grace", "On SIGTERM, seconds keepalived keeps serving after the routes are withdrawn, at least.", "5");
        var drainLimit = factory.Single("--drain-limit", "Seconds after SIGTERM by which keepalived stops, even if packets still arrive or --withdraw-grace has not run out (keep it inside terminationGracePeriodSeconds).", "20");
        var listen = factory.Single("--listen", "HOST:PORT for /healthz, /readyz and /metrics (empty HOST: all addresses, IPv4 and IPv6).", ":9101");
        var debounce = factory.Single("--debounce", "Milliseconds to let a burst of changes settle before reconciling.", "30");
        var podName = factory.Single("--pod-name", "This pod's name: its identity in the election of the one pod that writes Service status (default: the host name, which is the pod's).");
        var dataPlane = factory.Single("--data-plane", "on: manage local routes and packet marks in this pod's network namespace; off: leave them alone.", "on");
        var allNamespaces = factory.Single("--all-namespaces", AllNamespacesHelp, "off");

        var command = new Command("run", "Watch the cluster (or --objects) and keep keepalived's and exabgp's configs in step with it.")
        {
            kubeconfig, context, selector, configDir, keepalived, keepalivedPid, exabgpPid, exabgpLog, grace, drainLimit, listen, debounce, podName, dataPlane, allNamespaces,
        };
        foreach (var option in common.All) command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = new List<string>();
            var options = new RunOptions(
                common.Parse(parse, problems),
                parse.GetValue(kubeconfig),
                parse.GetValue(context),
                parse.GetValue(selector),
                parse.GetValue(configDir)!,
                parse.GetValue(keepalived) switch
                {
                    "pidfile" => KeepalivedLayout.Pidfile,
                    "supervise" => KeepalivedLayout.Supervise,
                    var other => Problem(problems, $"--keepalived: \"{IpText.Printable(other ?? "")}\" is not supervise or pidfile", KeepalivedLayout.Pidfile),
                },
                parse.GetValue(keepalivedPid)!,
                parse.GetValue(exabgpPid)!,
                parse.GetValue(exabgpLog),
                TimeSpan.FromSeconds(Number(parse.GetValue(grace)!, "--withdraw-grace", 0, 3600, problems)),
                TimeSpan.FromSeconds(Number(parse.GetValue(drainLimit)!, "--drain-limit", 0, 3600, problems)),
                Endpoint(parse.GetValue(listen)!, problems),
                TimeSpan.FromMilliseconds(Number(parse.GetValue(debounce)!, "--debounce", 0, 10_000, problems)))
            {
                PodName = parse.GetValue(podName) is { Length: > 0 } name ? name : Environment.MachineName,
                ManageDataPlane = OnOff(parse.GetValue(dataPlane), "--data-plane", problems),
                AllNamespaces = OnOff(parse.GetValue(allNamespaces), "--all-namespaces", problems),
            };
            if (options.Common.Objects.Count > 0 && options.Kubeconfig is not null) problems.Add("--objects and --kubeconfig exclude each other");
            if (options.DrainLimit < options.WithdrawGrace)
            {
                problems.Add($"--drain-limit ({options.DrainLimit.TotalSeconds} s) is shorter than --withdraw-grace ({options.WithdrawGrace.TotalSeconds} s)");
            }

            ClusterConnection? cluster = null;
            if (problems.Count == 0 && options.Common.Objects.Count == 0)
            {
                try
                {
                    cluster = ClusterConfig.Load(options.Kubeconfig, options.Context);
                }
                catch (KubernetesConfigException e)
                {
                    problems.Add(e.Message);
                }
            }
            var watched = WatchedNamespace(options, cluster, problems);
            if (problems.Count > 0)
            {
                foreach (var problem in problems) await errorOutput.WriteLineAsync($"error: {problem}").ConfigureAwait(false);
                return ExitCodes.Fatal;
            }

            Directory.CreateDirectory(options.ConfigDirectory);
            await using var app = RunHost.Build(options, cluster, watched);
            // The host handles SIGTERM itself and runs the withdraw → wait → stop sequence before it exits.
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            return app.Services.GetRequiredService<BackgroundFaults>().Any ? ExitCodes.Faulted : ExitCodes.Success;
        });
        return command;
    }

    internal const string AllNamespacesHelp =
        "on: serve Services in every namespace (the ClusterRole of manifests/overlays/all-namespaces grants it); off: only the watched namespace.";

    internal static bool OnOff(string? text, string option, List<string> problems) => text switch
    {
        "on" => true,
        "off" => false,
        var other => Problem(problems, $"{option}: \"{IpText.Printable(other ?? "")}\" is not on or off", false),
    };

    /// <summary>
    /// The namespace of the tuning ConfigMap, the password Secret and the Lease, and, without --all-namespaces, the one
    /// namespace an LB Deployment serves (its Role is namespaced): the --service namespace, else the service
    /// account's or the kubeconfig context's, else "default". With --objects, "default" for unqualified names.
    /// </summary>
    private static string WatchedNamespace(RunOptions options, ClusterConnection? cluster, List<string> problems)
    {
        var named = options.Common.Services.Select(s => s.Namespace).Distinct().ToList();
        if (options.AllNamespaces) return cluster?.Namespace ?? "default";
        if (named.Count > 1) problems.Add($"--service names several namespaces ({string.Join(", ", named)}); one LB Deployment serves one namespace unless --all-namespaces is on");
        var watched = named.FirstOrDefault() ?? cluster?.Namespace ?? "default";
        if (cluster is null) return watched;
        if (options.Common.TuningConfigMap is { } configMap && configMap.Namespace != watched)
        {
            problems.Add($"--tuning-configmap {configMap.Namespace}/{configMap.Name} is outside the watched namespace {watched}");
        }
        if (options.Common.BgpPasswordSecret?.Contains('/', StringComparison.Ordinal) == true)
        {
            problems.Add($"--bgp-password-secret {options.Common.BgpPasswordSecret}: give the Secret's NAME; it is read from the watched namespace {watched}");
        }
        return watched;
    }

    private static T Problem<T>(List<string> problems, string problem, T fallback)
    {
        problems.Add(problem);
        return fallback;
    }

    private static int Number(string text, string option, int min, int max, List<string> problems) =>
        int.TryParse(text, out var value) && value >= min && value <= max ? value : Problem(problems, $"{option}: \"{IpText.Printable(text)}\" is not a whole number from {min} to {max}", min);

    internal static IPEndPoint Endpoint(string text, List<string> problems)
    {
        var colon = text.LastIndexOf(':');
        var host = colon <= 0 ? "" : text[..colon].Trim('[', ']');
        if (colon >= 0 && int.TryParse(text[(colon + 1)..], out var port) && port is >= 0 and <= 65_535)
        {
            // Empty means every address of both families: probes on IPv6-only clusters come over IPv6.
            if (host.Length == 0) return new IPEndPoint(IPAddress.IPv6Any, port);
            if (IpText.TryParseAddress(host, out var address)) return new IPEndPoint(address, port);
        }
        return Problem(problems, $"--listen: \"{IpText.Printable(text)}\" is not HOST:PORT (HOST an IP address or empty for all; PORT 0 picks a free one)", new IPEndPoint(IPAddress.Any, 9101));
    }
}
