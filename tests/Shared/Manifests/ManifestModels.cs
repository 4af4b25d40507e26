using System.Text.Json;

namespace PortableLb.Testing.Manifests;

// Typed models of every kind the manifests ship, with exactly the fields they use: loading with unknown members
// disallowed turns a misspelt or misplaced field (which kubectl apply would silently drop) into a test failure.
// Int-or-string fields are JsonElement.

public sealed record ObjectMeta(string Name, string? Namespace = null, Dictionary<string, string>? Labels = null, Dictionary<string, string>? Annotations = null);

public sealed record LabelSelector(Dictionary<string, string> MatchLabels);

public abstract record KubeObject
{
    public required string ApiVersion { get; init; }
    public required string Kind { get; init; }
    public required ObjectMeta Metadata { get; init; }
}

public sealed record NamespaceObject : KubeObject;

public sealed record ServiceAccountObject : KubeObject
{
    public bool? AutomountServiceAccountToken { get; init; }
}

public sealed record PolicyRule(List<string> ApiGroups, List<string> Resources, List<string> Verbs, List<string>? ResourceNames = null);

public sealed record RoleObject : KubeObject
{
    public required List<PolicyRule> Rules { get; init; }
}

public sealed record ClusterRoleObject : KubeObject
{
    public required List<PolicyRule> Rules { get; init; }
}

public sealed record RoleRef(string ApiGroup, string Kind, string Name);

public sealed record Subject(string Kind, string Name, string? Namespace = null);

public sealed record RoleBindingObject : KubeObject
{
    public required RoleRef RoleRef { get; init; }
    public required List<Subject> Subjects { get; init; }
}

public sealed record ClusterRoleBindingObject : KubeObject
{
    public required RoleRef RoleRef { get; init; }
    public required List<Subject> Subjects { get; init; }
}

public sealed record ConfigMapObject : KubeObject
{
    public Dictionary<string, string>? Data { get; init; }
}

public sealed record ServicePort(string? Name, int Port, string? Protocol = null, JsonElement? TargetPort = null);

public sealed record ServiceSpec(string? Type, List<ServicePort> Ports, string? LoadBalancerClass = null, Dictionary<string, string>? Selector = null);

public sealed record ServiceObject : KubeObject
{
    public required ServiceSpec Spec { get; init; }
}

public sealed record RollingUpdate(JsonElement? MaxSurge = null, JsonElement? MaxUnavailable = null);

public sealed record DeploymentStrategy(string Type, RollingUpdate? RollingUpdate = null);

public sealed record PodTemplate(ObjectMeta? Metadata, PodSpec Spec);

public sealed record DeploymentSpec(int? Replicas, LabelSelector Selector, PodTemplate Template, DeploymentStrategy? Strategy = null);

public sealed record DeploymentObject : KubeObject
{
    public required DeploymentSpec Spec { get; init; }
}

public sealed record DaemonSetUpdateStrategy(string Type);

public sealed record DaemonSetSpec(LabelSelector Selector, PodTemplate Template, DaemonSetUpdateStrategy? UpdateStrategy = null);

public sealed record DaemonSetObject : KubeObject
{
    public required DaemonSetSpec Spec { get; init; }
}

public sealed record SeccompProfile(string Type);

public sealed record Sysctl(string Name, string Value);

public sealed record PodSecurityContext(long? FsGroup = null, SeccompProfile? SeccompProfile = null, List<Sysctl>? Sysctls = null);

public sealed record TopologySpreadConstraint(int MaxSkew, string TopologyKey, string WhenUnsatisfiable, LabelSelector LabelSelector);

public sealed record PodSpec(
    List<Container> Containers,
    string? ServiceAccountName = null,
    bool? ShareProcessNamespace = null,
    long? TerminationGracePeriodSeconds = null,
    PodSecurityContext? SecurityContext = null,
    List<TopologySpreadConstraint>? TopologySpreadConstraints = null,
    List<Volume>? Volumes = null,
    bool? HostNetwork = null,
    string? DnsPolicy = null);

public sealed record FieldRef(string FieldPath);

public sealed record EnvVarSource(FieldRef? FieldRef = null);

public sealed record EnvVar(string Name, string? Value = null, EnvVarSource? ValueFrom = null);

public sealed record PortSpec(int ContainerPort, string? Name = null, string? Protocol = null);

public sealed record HttpGet(string Path, JsonElement Port);

public sealed record Probe(HttpGet HttpGet, int? PeriodSeconds = null, int? FailureThreshold = null);

public sealed record SleepAction(int Seconds);

public sealed record LifecycleHandler(SleepAction? Sleep = null);

public sealed record Lifecycle(LifecycleHandler? PreStop = null);

public sealed record Resources(Dictionary<string, string>? Requests = null, Dictionary<string, string>? Limits = null);

public sealed record Capabilities(List<string>? Add = null, List<string>? Drop = null);

public sealed record ContainerSecurityContext(
    bool? AllowPrivilegeEscalation = null,
    bool? ReadOnlyRootFilesystem = null,
    Capabilities? Capabilities = null,
    long? RunAsUser = null,
    long? RunAsGroup = null,
    bool? RunAsNonRoot = null,
    bool? Privileged = null);

public sealed record VolumeMount(string Name, string MountPath, bool? ReadOnly = null);

public sealed record Container(
    string Name,
    string Image,
    List<string>? Command = null,
    List<string>? Args = null,
    List<EnvVar>? Env = null,
    List<PortSpec>? Ports = null,
    Probe? LivenessProbe = null,
    Probe? ReadinessProbe = null,
    Lifecycle? Lifecycle = null,
    Resources? Resources = null,
    ContainerSecurityContext? SecurityContext = null,
    List<VolumeMount>? VolumeMounts = null);

public sealed record EmptyDir(string? Medium = null, string? SizeLimit = null);

public sealed record HostPath(string Path, string? Type = null);

public sealed record Volume(string Name, EmptyDir? EmptyDir = null, HostPath? HostPath = null);

public sealed record PodDisruptionBudgetSpec(LabelSelector Selector, JsonElement? MaxUnavailable = null, JsonElement? MinAvailable = null);

public sealed record PodDisruptionBudgetObject : KubeObject
{
    public required PodDisruptionBudgetSpec Spec { get; init; }
}
