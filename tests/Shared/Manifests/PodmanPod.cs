using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PortableLb.Testing.Manifests;

/// <summary>
/// Where a kubelet would run a pod: its name and namespace, the node's and the pod's addresses, the network to join
/// (a podman network, or "ns:/run/netns/NAME" for a network namespace a CNI plugin already wired), the API server the
/// in-cluster configuration points at, and the folder holding the service account's token, ca.crt and namespace.
/// </summary>
public sealed record PodPlacement(
    string Name,
    string Namespace,
    string NodeIp,
    string PodIp,
    string Network,
    string ApiServerHost,
    int ApiServerPort,
    string ServiceAccountDirectory)
{
    /// <summary>The node's name, for spec.nodeName.</summary>
    public string NodeName { get; init; } = "node-1";

    /// <summary>The node's own network, which a hostNetwork pod joins: "host", or "ns:/run/netns/NAME" for a node that is a namespace.</summary>
    public string NodeNetwork { get; init; } = "host";
}

/// <summary>
/// Runs a pod spec as rendered from manifests/ with podman, the way a kubelet runs it, so that what the tests exercise
/// is the shipped pod and nothing hand-written beside it: one pod sharing the network (and, with
/// shareProcessNamespace, the process) namespace; pod sysctls; emptyDirs as volumes owned by the fsGroup with the
/// setgid bit; each container's image, command and args (command replaces the entrypoint, args the default
/// arguments), env with downward-API fields and $(VAR) references, user and group, fsGroup as a supplementary
/// group, capabilities, no-new-privileges, a read-only root with nothing writable added, memory limits, the pod's
/// name in /etc/hosts and the service account's token. Termination runs the preStop sleep, then SIGTERM with the rest of the grace period.
/// A field it cannot translate is an error, so a manifest change cannot slip past the tests unexercised.
/// The sandbox is an infra container (catatonit, as podman's own pause image has it) whose namespaces the containers
/// join, as a kubelet's pause container: podman 4.3's `pod create` cannot join a network namespace by path.
/// </summary>
public static class PodmanPod
{
    public const string ServiceAccountMount = "/var/run/secrets/kubernetes.io/serviceaccount";

    public static string ContainerName(PodPlacement placement, Container container) => $"{placement.Name}-{container.Name}";

    public static string InfraName(PodPlacement placement) => $"{placement.Name}-infra";

    /// <summary>The sandbox's root: catatonit alone, which is all podman's pause image holds.</summary>
    private const string SandboxRoot = "/var/lib/pod-sandbox";

    /// <summary>Shell commands that create the pod and its containers (not yet started).</summary>
    public static IReadOnlyList<string> Create(PodSpec spec, PodPlacement placement)
    {
        var commands = new List<string>();
        var fsGroup = spec.SecurityContext?.FsGroup;
        foreach (var volume in spec.Volumes ?? [])
        {
            if (volume.EmptyDir is not null)
            {
                // A kubelet makes an emptyDir 0777; with an fsGroup it belongs to that group, setgid, so files made in it do too.
                // (sizeLimit is an eviction threshold the kubelet enforces, not a mount option: it is not translated.)
                var mode = fsGroup is { } group ? $"mode=2777,gid={group}" : "mode=0777";
                commands.Add(Shell("podman", "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", $"o={mode}", VolumeName(placement, volume)));
            }
            else if (volume.HostPath is null) throw new NotSupportedException($"volume {volume.Name}: only emptyDir and hostPath are translated");
        }

        // The infra container holds the pod's namespaces, as the pause container does under a kubelet; it is PID 1 of
        // a shared process namespace. hostNetwork: the node's own network namespace, as a DaemonSet such as node-routes gets.
        var network = spec.HostNetwork == true ? placement.NodeNetwork : placement.Network;
        commands.Add($"mkdir -p {SandboxRoot} && cp -u /usr/bin/catatonit {SandboxRoot}/catatonit");
        var infra = new List<string> { "podman", "create", "--name", InfraName(placement), "--hostname", placement.Name, "--network", network, "--ipc", "shareable" };
        if (network != "host" && !network.StartsWith("ns:", StringComparison.Ordinal)) infra.AddRange(["--ip", placement.PodIp]);
        // The kubelet's /etc/hosts names the pod by its address, so looking up its own name (exabgp does) needs no DNS.
        if (spec.HostNetwork != true) infra.AddRange(["--add-host", $"{placement.Name}:{placement.PodIp}"]);
        foreach (var sysctl in spec.SecurityContext?.Sysctls ?? []) infra.AddRange(["--sysctl", $"{sysctl.Name}={sysctl.Value}"]);
        infra.AddRange(["--rootfs", SandboxRoot, "/catatonit", "-P"]);
        commands.Add(Shell([.. infra]));

        foreach (var container in spec.Containers) commands.Add(Shell([.. CreateContainer(spec, container, placement)]));
        return commands;
    }

    /// <summary>The sandbox first, then the containers in the order the spec lists them.</summary>
    public static string Start(PodSpec spec, PodPlacement placement) =>
        Shell(["podman", "start", InfraName(placement), .. spec.Containers.Select(c => ContainerName(placement, c))]) + " >/dev/null";

    /// <summary>
    /// What a kubelet does when the pod is deleted: for every container at once, its preStop hook, then SIGTERM and,
    /// once the grace period (counted from the start, hook included) is over, SIGKILL; the sandbox goes last, as
    /// stopping it first would end a shared process namespace early.
    /// </summary>
    public static string Delete(PodSpec spec, PodPlacement placement)
    {
        var grace = spec.TerminationGracePeriodSeconds ?? 30;
        var stops = spec.Containers.Select(c =>
        {
            var preStop = c.Lifecycle?.PreStop?.Sleep?.Seconds ?? 0;
            return $"( sleep {preStop}; {Shell("podman", "stop", "-t", (grace - preStop).ToString(CultureInfo.InvariantCulture), ContainerName(placement, c))} ) &";
        });
        return string.Join(" ", stops) + " wait; " + Shell("podman", "stop", "-t", "0", InfraName(placement)) + " >/dev/null";
    }

    private static List<string> CreateContainer(PodSpec spec, Container container, PodPlacement placement)
    {
        var security = container.SecurityContext;
        var sandbox = "container:" + InfraName(placement);
        var args = new List<string> { "podman", "create", "--name", ContainerName(placement, container), "--restart", "always", "--network", sandbox, "--ipc", sandbox, "--uts", sandbox };
        if (spec.ShareProcessNamespace == true) args.AddRange(["--pid", sandbox]);
        if (security?.Privileged == true) throw new NotSupportedException($"{container.Name}: privileged containers are not translated");
        if (security?.ReadOnlyRootFilesystem == true) args.AddRange(["--read-only", "--read-only-tmpfs=false"]);
        if (security?.AllowPrivilegeEscalation == false) args.AddRange(["--security-opt", "no-new-privileges"]);
        if (security?.Capabilities is { } capabilities)
        {
            foreach (var dropped in capabilities.Drop ?? []) args.AddRange(["--cap-drop", dropped.ToLowerInvariant()]);
            foreach (var added in capabilities.Add ?? []) args.AddRange(["--cap-add", added.ToLowerInvariant()]);
        }
        if (security?.RunAsNonRoot == true && security.RunAsUser is null or 0) throw new NotSupportedException($"{container.Name}: runAsNonRoot needs a non-zero runAsUser here");
        if (security?.RunAsUser is { } user) args.AddRange(["--user", security.RunAsGroup is { } group ? $"{user}:{group}" : $"{user}"]);
        if (spec.SecurityContext?.FsGroup is { } fsGroup) args.AddRange(["--group-add", fsGroup.ToString(CultureInfo.InvariantCulture)]);
        if (container.Resources?.Limits?.GetValueOrDefault("memory") is { } memory) args.AddRange(["--memory", Quantity(memory)]);

        foreach (var (name, value) in Environment(container, placement)) args.AddRange(["--env", $"{name}={value}"]);
        args.AddRange(["--volume", $"{placement.ServiceAccountDirectory}:{ServiceAccountMount}:ro"]);
        foreach (var mount in container.VolumeMounts ?? [])
        {
            var volume = (spec.Volumes ?? []).SingleOrDefault(v => v.Name == mount.Name) ?? throw new NotSupportedException($"{container.Name}: no volume {mount.Name}");
            var source = volume.HostPath is { } hostPath ? hostPath.Path : VolumeName(placement, volume);
            args.AddRange(["--volume", $"{source}:{mount.MountPath}{(mount.ReadOnly == true ? ":ro" : "")}"]);
        }
        if (container.Command is { Count: > 0 } command) args.AddRange(["--entrypoint", JsonSerializer.Serialize(command)]);
        args.Add(container.Image);
        args.AddRange(container.Args ?? []);
        return args;
    }

    /// <summary>The kubelet's environment: the service variables, then the container's own in order, $(VAR) resolved against those before it.</summary>
    private static List<(string Name, string Value)> Environment(Container container, PodPlacement placement)
    {
        var values = new List<(string Name, string Value)>
        {
            ("KUBERNETES_SERVICE_HOST", placement.ApiServerHost),
            ("KUBERNETES_SERVICE_PORT", placement.ApiServerPort.ToString(CultureInfo.InvariantCulture)),
        };
        foreach (var env in container.Env ?? [])
        {
            var value = env.ValueFrom?.FieldRef?.FieldPath switch
            {
                null => Expand(env.Value ?? "", values),
                "metadata.name" => placement.Name,
                "metadata.namespace" => placement.Namespace,
                "status.podIP" => placement.PodIp,
                "status.hostIP" => placement.NodeIp,
                "spec.nodeName" => placement.NodeName,
                var field => throw new NotSupportedException($"{container.Name}: env {env.Name} from field {field} is not translated"),
            };
            values.Add((env.Name, value));
        }
        return values;
    }

    private static string Expand(string value, List<(string Name, string Value)> defined)
    {
        var text = new StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '$' && i + 1 < value.Length && value[i + 1] == '$')
            {
                text.Append('$');
                i++;
                continue;
            }
            if (value[i] == '$' && i + 1 < value.Length && value[i + 1] == '(' && value.IndexOf(')', i) is var end and > 0)
            {
                var name = value[(i + 2)..end];
                var found = defined.LastOrDefault(d => d.Name == name);
                // An unknown reference stays as written, as the kubelet leaves it.
                text.Append(found.Name is null ? value[i..(end + 1)] : found.Value);
                i = end;
                continue;
            }
            text.Append(value[i]);
        }
        return text.ToString();
    }

    private static string VolumeName(PodPlacement placement, Volume volume) => $"{placement.Name}-{volume.Name}";

    /// <summary>Kubernetes quantities (64Mi, 1Gi, 500M) as podman and tmpfs sizes (bytes).</summary>
    private static string Quantity(string quantity)
    {
        var units = new (string Suffix, long Factor)[] { ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("k", 1000), ("M", 1_000_000), ("G", 1_000_000_000) };
        foreach (var (suffix, factor) in units)
        {
            if (quantity.EndsWith(suffix, StringComparison.Ordinal)) return (long.Parse(quantity[..^suffix.Length], CultureInfo.InvariantCulture) * factor).ToString(CultureInfo.InvariantCulture);
        }
        return long.Parse(quantity, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
    }

    private static string Shell(params string[] words) => string.Join(" ", words.Select(Quote));

    public static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@%+".Contains(c)) ? word : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
