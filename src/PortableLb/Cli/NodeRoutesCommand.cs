using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Kubernetes;
using PortableLb.Kubernetes.Config;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Sources;

namespace PortableLb.Cli;

/// <summary>
/// `portable-lb node-routes`: the node's half of the data path, run as a hostNetwork DaemonSet. It routes every
/// address PortableLb serves to the ready LB pods on this node (ECMP across them), so that a packet the router
/// delivers to the node, still addressed to the VIP, reaches an LB pod, and pins each connection to the LB pod that
/// took its first packet. Flags read PORTABLE_LB_&lt;FLAG&gt; like `run`.
/// </summary>
public static class NodeRoutesCommand
{
    public static Command Create(TextWriter errorOutput)
    {
        var factory = new OptionFactory(fromEnvironment: true);
        var nodeName = factory.Single("--node-name", "This node's name (the downward API's spec.nodeName): the LB pods on it get the routes.");
        var objects = factory.Repeatable("--objects", "Manifest folders or files (Services and Pods): run without a cluster.");
        var kubeconfig = factory.Single("--kubeconfig", "kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config).");
        var context = factory.Single("--context", "kubeconfig context (default: current-context).");
        var services = factory.Repeatable("--service", "Only these Services (NAMESPACE/NAME); repeatable. Their namespace is the one watched.");
        var selector = factory.Single("--service-selector", "Only Services with these labels (a label selector).");
        var nodeIps = factory.Repeatable("--node-ip", "This node's IP, once per family: no Service may claim it.");
        var listen = factory.Single("--listen", "HOST:PORT for /healthz and /readyz (empty HOST: all addresses, IPv4 and IPv6).", ":9102");
        var allNamespaces = factory.Single("--all-namespaces", RunCommand.AllNamespacesHelp, "off");
        var flowMarkMask = factory.Single("--flow-mark-mask",
            "Bits of the packet and connection marks that pin each connection to its LB pod (contiguous; 0 turns pinning off).", FlowMarks.Default.ToString());
        var command = new Command("node-routes", "Route the served Service addresses on this node to the ready LB pods on it.")
        {
            nodeName, objects, kubeconfig, context, services, selector, nodeIps, listen, allNamespaces, flowMarkMask,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = new List<string>();
            var node = parse.GetValue(nodeName);
            if (string.IsNullOrEmpty(node)) problems.Add("--node-name is required (set PORTABLE_LB_NODE_NAME from spec.nodeName)");
            var only = (parse.GetValue(services) ?? []).Select(s => CommonOptions.NamespacedName(s, "--service", problems)).OfType<(string Namespace, string Name)>()
                .Select(s => new ServiceName(s.Namespace, s.Name)).ToList();
            var addresses = new List<IPAddress>();
            foreach (var text in parse.GetValue(nodeIps) ?? [])
            {
                if (IpText.TryParseAddress(text, out var address)) addresses.Add(address);
                else problems.Add($"--node-ip: \"{IpText.Printable(text)}\" is not an IP address");
            }
            var nodeAddresses = NodeAddresses.FromLists(addresses, [], out var addressErrors);
            problems.AddRange(addressErrors);
            var endpoint = RunCommand.Endpoint(parse.GetValue(listen)!, problems);
            if (!FlowMarks.TryParse(parse.GetValue(flowMarkMask)!, out var marks, out var markError)) problems.Add($"--flow-mark-mask: {markError}");
            var manifests = parse.GetValue(objects) ?? [];
            if (manifests.Length > 0 && parse.GetValue(kubeconfig) is not null) problems.Add("--objects and --kubeconfig exclude each other");
            ClusterConnection? cluster = null;
            if (problems.Count == 0 && manifests.Length == 0)
            {
                try
                {
                    cluster = ClusterConfig.Load(parse.GetValue(kubeconfig), parse.GetValue(context));
                }
                catch (KubernetesConfigException e)
                {
                    problems.Add(e.Message);
                }
            }
            var everyNamespace = RunCommand.OnOff(parse.GetValue(allNamespaces), "--all-namespaces", problems);
            if (!everyNamespace && only.Select(s => s.Namespace).Distinct().Count() > 1)
            {
                problems.Add("--service names several namespaces; node-routes serves the one namespace of its LB pods unless --all-namespaces is on");
            }
            if (problems.Count > 0)
            {
                foreach (var problem in problems) await errorOutput.WriteLineAsync($"error: {problem}").ConfigureAwait(false);
                return ExitCodes.Fatal;
            }

            // The LB pods' namespace; without --all-namespaces also the Services'.
            var watched = only.Count > 0 && !everyNamespace ? only[0].Namespace : cluster?.Namespace ?? "default";
            await using var app = Build(node!, nodeAddresses, only, manifests, cluster, watched, everyNamespace, parse.GetValue(selector), endpoint, marks);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            return app.Services.GetRequiredService<BackgroundFaults>().Any ? ExitCodes.Faulted : ExitCodes.Success;
        });
        return command;
    }

    private static NodeRouteTable RouteTable(FlowMarks marks)
    {
        var runner = new ProcessRunner();
        // Off still runs the pins, with none wanted: what an earlier run pinned is removed.
        return new NodeRouteTable(runner, pins: new FlowPins(runner, marks));
    }

    private static WebApplication Build(
        string node, NodeAddresses nodeAddresses, IReadOnlyCollection<ServiceName> only, IReadOnlyList<string> manifests, ClusterConnection? cluster,
        string watched, bool allNamespaces, string? selector, IPEndPoint listen, FlowMarks marks)
    {
        var builder = WebHostSetup.Create(listen);
        var services = builder.Services;
        services.AddSingleton<NodeRoutesStatus>();
        services.AddSingleton<IClusterSource>(provider => cluster is null
            ? new ManifestFolderSource(manifests, provider.GetRequiredService<ILogger<ManifestFolderSource>>())
            : new KubernetesSource(new KubernetesClient(cluster), new KubernetesSourceOptions(watched, selector, TuningConfigMap: null)
            {
                WatchEndpointSlices = false,
                LbPodsOnNode = node,
                AllNamespaces = allNamespaces,
            }, provider.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(provider => new NodeRoutesLoop(provider.GetRequiredService<IClusterSource>(), RouteTable(marks), node, nodeAddresses,
            only.Count > 0 ? only : null, provider.GetRequiredService<NodeRoutesStatus>(), provider.GetRequiredService<ILogger<NodeRoutesLoop>>(), provider.GetRequiredService<TimeProvider>()));
        services.AddWatched<NodeRoutesLoop>("the node-routes loop");

        var app = builder.BuildWatched();
        app.MapGet("/healthz", (BackgroundFaults faults) => faults.All is { Count: > 0 } all
            ? Results.Text(string.Concat(all.Select(f => $"{f.Task} failed: {f.Error.Message}\n")), statusCode: StatusCodes.Status500InternalServerError)
            : Results.Text("ok\n"));
        app.MapGet("/readyz", (IClusterSource source, NodeRoutesStatus status) =>
        {
            var problems = new List<string>();
            if (!source.Ready.IsCompletedSuccessfully) problems.Add("the cluster sources have not completed their first read");
            if (status.LastPass is null) problems.Add("no pass has run yet");
            problems.AddRange(status.Failures);
            problems.AddRange(source.Health().Where(h => !h.Healthy && h.Failing >= Diagnostics.Readiness.SourceOutageTolerated).Select(h => h.ToString()));
            return problems.Count > 0
                ? Results.Text(string.Join("\n", problems) + "\n", statusCode: StatusCodes.Status503ServiceUnavailable)
                : Results.Text($"ready: {status.Routes} routes\n");
        });
        return app;
    }
}
