using System.Text.Json;
using PortableLb.Cli;
using PortableLb.Testing.Manifests;

namespace PortableLb.Tests.Deployment;

[Parallelizable(ParallelScope.Children)]
public sealed class ManifestTests
{
    public static IEnumerable<string> Kustomizations() => RenderedManifests.Kustomizations();

    [Test]
    public void Base_overlays_and_examples_are_all_there()
    {
        Assert.That(Kustomizations(), Is.SupersetOf(new[] { "base", "overlays/all-namespaces", "overlays/l2", "examples/thesis", "examples/routing", "examples/tuned-health-checks" }));
    }

    [TestCaseSource(nameof(Kustomizations))]
    public async Task Renders_offline_into_typed_objects_with_no_unknown_fields_and_no_collisions(string kustomization)
    {
        var objects = await RenderedManifests.RenderAsync(kustomization);
        Assert.That(objects, Is.Not.Empty);
        var typed = objects.Select(RenderedManifests.Typed).ToList();
        var keys = typed.Select(o => $"{o.ApiVersion}/{o.Kind} {o.Metadata.Namespace}/{o.Metadata.Name}").ToList();
        Assert.That(keys, Is.Unique);
    }

    [TestCaseSource(nameof(Kustomizations))]
    public async Task Every_tuning_ConfigMap_parses_without_an_error(string kustomization)
    {
        var tunings = (await RenderedManifests.RenderAsync(kustomization)).Select(RenderedManifests.Typed).OfType<ConfigMapObject>()
            .Where(c => c.Metadata.Name == "portable-lb-tuning").ToList();
        foreach (var tuning in tunings)
        {
            var parsed = PortableLb.Tuning.TuningParser.Parse(tuning.Data!["config.yaml"], $"{kustomization}: ConfigMap portable-lb-tuning");
            Assert.That(parsed.Errors.Select(e => e.ToString()), Is.Empty);
        }
    }

    [Test]
    public void Unknown_fields_are_rejected_by_the_typed_loading()
    {
        var misplaced = JsonSerializer.SerializeToNode(new
        {
            apiVersion = "v1",
            kind = "ServiceAccount",
            metadata = new { name = "x" },
            automountToken = false,
        })!.AsObject();
        Assert.That(() => RenderedManifests.Typed(misplaced), Throws.TypeOf<AssertionException>().With.Message.Contains("automountToken"));
    }

    private static async Task<List<KubeObject>> Base() => (await RenderedManifests.RenderAsync("base")).Select(RenderedManifests.Typed).ToList();

    private static async Task<PodSpec> LbPod() => (await Base()).OfType<DeploymentObject>().Single(d => d.Metadata.Name == "portable-lb").Spec.Template.Spec;

    [Test]
    public async Task The_Role_grants_exactly_what_the_controller_uses()
    {
        var objects = await Base();
        Assert.That(objects.OfType<NamespaceObject>().Count(), Is.EqualTo(1));
        var role = objects.OfType<RoleObject>().Single();
        Assert.That(Grants(role.Rules), Is.EqualTo(new[]
        {
            "coordination.k8s.io leases create",
            "coordination.k8s.io leases get [portable-lb]",
            "coordination.k8s.io leases update [portable-lb]",
            "core configmaps get [portable-lb-tuning]", "core configmaps list [portable-lb-tuning]", "core configmaps watch [portable-lb-tuning]",
            "core events create",
            "core pods get", "core pods list", "core pods watch",
            "core secrets get [portable-lb-bgp-password]", "core secrets list [portable-lb-bgp-password]", "core secrets watch [portable-lb-bgp-password]",
            "core services get", "core services list", "core services watch",
            "core services/status patch",
            "discovery.k8s.io endpointslices get", "discovery.k8s.io endpointslices list", "discovery.k8s.io endpointslices watch",
            "events.k8s.io events create",
        }.Order(StringComparer.Ordinal)));
        // The names the Role allows are the names the controller is told to read.
        var env = objects.OfType<DeploymentObject>().Single(d => d.Metadata.Name == "portable-lb").Spec.Template.Spec.Containers.Single(c => c.Name == "ipvs").Env!;
        Assert.That(env.Single(e => e.Name == "PORTABLE_LB_TUNING_CONFIGMAP").Value, Does.EndWith("/portable-lb-tuning"));
        Assert.That(env.Single(e => e.Name == "PORTABLE_LB_BGP_PASSWORD_SECRET").Value, Is.EqualTo("portable-lb-bgp-password"));
        Assert.That(PortableLb.Cli.RunHost.LeaseName, Is.EqualTo("portable-lb"), "the Lease the Role names");
        Assert.That(env.Single(e => e.Name == "PORTABLE_LB_POD_NAME").ValueFrom!.FieldRef!.FieldPath, Is.EqualTo("metadata.name"), "the election's identity is the pod's name");
        var binding = objects.OfType<RoleBindingObject>().Single();
        var account = objects.OfType<ServiceAccountObject>().Single();
        Assert.That(binding.RoleRef.Name, Is.EqualTo(role.Metadata.Name));
        Assert.That(binding.Subjects.Single(), Is.EqualTo(new Subject("ServiceAccount", account.Metadata.Name, account.Metadata.Namespace)));
        Assert.That(objects.OfType<DeploymentObject>().Single().Spec.Template.Spec.ServiceAccountName, Is.EqualTo(account.Metadata.Name));
        Assert.That(objects.Select(o => o.Kind), Has.None.EqualTo("ClusterRole").And.None.EqualTo("ClusterRoleBinding"));
    }

    private static List<string> Grants(List<PolicyRule> rules) => rules
        .SelectMany(r => r.ApiGroups.SelectMany(g => r.Resources.SelectMany(res => r.Verbs.Select(v =>
            $"{(g.Length == 0 ? "core" : g)} {res} {v}{(r.ResourceNames is { } names ? $" [{string.Join(",", names)}]" : "")}"))))
        .Order(StringComparer.Ordinal)
        .ToList();

    [Test]
    public async Task The_all_namespaces_overlay_adds_only_the_Service_side_cluster_wide_and_turns_the_flag_on_in_both_commands()
    {
        var objects = (await RenderedManifests.RenderAsync("overlays/all-namespaces")).Select(RenderedManifests.Typed).ToList();
        var clusterRole = objects.OfType<ClusterRoleObject>().Single();
        Assert.That(Grants(clusterRole.Rules), Is.EqualTo(new[]
        {
            "core events create",
            "core services get", "core services list", "core services watch",
            "core services/status patch",
            "discovery.k8s.io endpointslices get", "discovery.k8s.io endpointslices list", "discovery.k8s.io endpointslices watch",
            "events.k8s.io events create",
        }.Order(StringComparer.Ordinal)), "no ConfigMap, Secret, Lease or Pod leaves the namespace");
        var binding = objects.OfType<ClusterRoleBindingObject>().Single();
        var account = objects.OfType<ServiceAccountObject>().Single();
        Assert.That(binding.RoleRef, Is.EqualTo(new RoleRef("rbac.authorization.k8s.io", "ClusterRole", clusterRole.Metadata.Name)));
        Assert.That(binding.Subjects.Single(), Is.EqualTo(new Subject("ServiceAccount", account.Metadata.Name, account.Metadata.Namespace)));
        Assert.That(Grants(objects.OfType<RoleObject>().Single().Rules), Is.EqualTo(Grants((await Base()).OfType<RoleObject>().Single().Rules)), "the namespaced Role is the base's");

        var flag = OptionFactory.EnvironmentName("--all-namespaces");
        var controller = objects.OfType<DeploymentObject>().Single().Spec.Template.Spec.Containers.Single(c => c.Name == "ipvs");
        var nodeRoutes = objects.OfType<DaemonSetObject>().Single().Spec.Template.Spec.Containers.Single();
        foreach (var container in new[] { controller, nodeRoutes })
        {
            Assert.That(container.Env!.Single(e => e.Name == flag).Value, Is.EqualTo("on"), container.Name);
        }
        Assert.That((await Base()).OfType<DeploymentObject>().Single().Spec.Template.Spec.Containers.SelectMany(c => c.Env ?? []).Select(e => e.Name), Has.None.EqualTo(flag));
    }

    [Test]
    public async Task The_L2_overlay_runs_one_LB_pod_per_node_in_the_host_network_with_VRRPs_capabilities_and_no_BGP()
    {
        var objects = (await RenderedManifests.RenderAsync("overlays/l2")).Select(RenderedManifests.Typed).ToList();
        Assert.That(objects.OfType<DeploymentObject>(), Is.Empty, "no BGP Deployment");
        var daemonSet = objects.OfType<DaemonSetObject>().Single();
        Assert.That(daemonSet.Metadata.Name, Is.EqualTo("portable-lb"), "node-routes is gone: the VIP is on the master's own node");
        var pod = daemonSet.Spec.Template.Spec;
        Assert.That(daemonSet.Spec.Template.Metadata!.Labels!["app.kubernetes.io/name"], Is.EqualTo(PortableLb.Sources.KubernetesSource.LbPodLabelValue), "the pods are L2 mode's members");
        Assert.That(pod.HostNetwork, Is.True);
        Assert.That(pod.SecurityContext?.Sysctls, Is.Null, "the kubelet refuses network sysctls for host-network pods");
        var container = pod.Containers.Single();
        Assert.That(container.Name, Is.EqualTo("ipvs"));
        Assert.That(container.SecurityContext!.Capabilities!.Add, Is.EquivalentTo(new[] { "NET_ADMIN", "NET_RAW" }));
        Assert.That(container.SecurityContext.ReadOnlyRootFilesystem, Is.True);
        Assert.That(container.Env!.Single(e => e.Name == "PORTABLE_LB_POD_IP").Value, Is.EqualTo("$(NODE_IP)"));
        Assert.That(container.Env!.Single(e => e.Name == "PORTABLE_LB_POD_NAME").ValueFrom!.FieldRef!.FieldPath, Is.EqualTo("metadata.name"));

        var tuning = objects.OfType<ConfigMapObject>().Single(c => c.Metadata.Name == "portable-lb-tuning");
        var parsed = PortableLb.Tuning.TuningParser.Parse(tuning.Data!["config.yaml"], "overlays/l2").Tuning!;
        Assert.That(parsed.Mode, Is.EqualTo(PortableLb.Tuning.LbMode.L2));
        Assert.That(parsed.IpMode, Is.EqualTo(PortableLb.Tuning.IngressMode.Proxy), "kube-proxy must leave the VIP to the master");
        Assert.That(parsed.Bgp.Enabled, Is.False);
    }

    [Test]
    public async Task Node_routes_runs_on_every_node_in_the_host_network_with_NET_ADMIN_only_and_is_never_taken_for_an_LB_pod()
    {
        var daemonSet = (await Base()).OfType<DaemonSetObject>().Single();
        var pod = daemonSet.Spec.Template.Spec;
        Assert.That(pod.HostNetwork, Is.True);
        var container = pod.Containers.Single();
        Assert.That(container.Command, Is.EqualTo(new[] { "/usr/bin/tini", "--", "/opt/portable-lb/portable-lb", "node-routes" }));
        Assert.That(container.SecurityContext!.Capabilities!.Add, Is.EqualTo(new[] { "NET_ADMIN" }));
        Assert.That(container.SecurityContext.Capabilities.Drop, Is.EqualTo(new[] { "ALL" }));
        Assert.That(container.SecurityContext.ReadOnlyRootFilesystem, Is.True);
        Assert.That(container.SecurityContext.AllowPrivilegeEscalation, Is.False);
        Assert.That(container.Env!.Single(e => e.Name == "PORTABLE_LB_NODE_NAME").ValueFrom!.FieldRef!.FieldPath, Is.EqualTo("spec.nodeName"));
        // node-routes routes to pods labelled app.kubernetes.io/name=portable-lb; its own host-network pods must not be.
        Assert.That(daemonSet.Spec.Template.Metadata!.Labels!["app.kubernetes.io/name"], Is.Not.EqualTo(PortableLb.Sources.KubernetesSource.LbPodLabelValue));
        var lbPods = (await Base()).OfType<DeploymentObject>().Single(d => d.Metadata.Name == "portable-lb").Spec.Template.Metadata!.Labels!;
        Assert.That(lbPods[PortableLb.Sources.KubernetesSource.LbPodLabelKey], Is.EqualTo(PortableLb.Sources.KubernetesSource.LbPodLabelValue));
    }

    [Test]
    public async Task The_two_containers_are_the_thesis_pod_sharing_one_volume_and_one_process_namespace()
    {
        var pod = await LbPod();
        Assert.That(pod.Containers.Select(c => c.Name), Is.EqualTo(new[] { "ipvs", "exabgp" }));
        Assert.That(pod.ShareProcessNamespace, Is.True);
        var shared = pod.Volumes!.Single(v => v.Name == "run");
        Assert.That(shared.EmptyDir, Is.Not.Null);
        foreach (var container in pod.Containers)
        {
            Assert.That(container.VolumeMounts, Has.One.EqualTo(new VolumeMount("run", "/run/portable-lb")), container.Name);
            Assert.That(container.SecurityContext?.Privileged, Is.Not.True, container.Name);
            Assert.That(container.SecurityContext?.Capabilities?.Drop, Is.EqualTo(new[] { "ALL" }), container.Name);
        }
        var ipvs = pod.Containers[0];
        Assert.That(ipvs.SecurityContext!.Capabilities!.Add, Does.Contain("NET_ADMIN"));
        Assert.That(Env(ipvs)["PORTABLE_LB_CONFIG_DIR"], Is.EqualTo("/run/portable-lb"));
        Assert.That(Env(ipvs)["PORTABLE_LB_EXABGP_LOG"], Does.StartWith("/run/portable-lb/"));
        Assert.That(pod.TopologySpreadConstraints!.Single().TopologyKey, Is.EqualTo("kubernetes.io/hostname"));
    }

    [Test]
    public async Task The_pod_sets_every_sysctl_the_controller_checks_and_forwarding_for_the_NAT_replies()
    {
        var sysctls = (await LbPod()).SecurityContext!.Sysctls!.ToDictionary(s => s.Name, s => s.Value);
        foreach (var (key, value) in PortableLb.Apply.DataPlane.Sysctls) Assert.That(sysctls.GetValueOrDefault(key.Replace('/', '.')), Is.EqualTo(value), key);
        Assert.That(sysctls.GetValueOrDefault("net.ipv4.ip_forward"), Is.EqualTo("1"));
    }

    [Test]
    public async Task The_ipvs_container_adds_no_args_to_the_images_entrypoint_whose_settings_are_environment()
    {
        var ipvs = (await LbPod()).Containers.Single(c => c.Name == "ipvs");
        Assert.That((ipvs.Command, ipvs.Args), Is.EqualTo(((List<string>?)null, (List<string>?)null)), "args would be appended to `portable-lb run`, and a flag given twice is an error");
    }

    [Test]
    public async Task The_probes_hit_the_port_and_paths_the_controller_serves()
    {
        var ipvs = (await LbPod()).Containers.Single(c => c.Name == "ipvs");
        var listen = Env(ipvs)["PORTABLE_LB_LISTEN"];
        var port = int.Parse(listen[(listen.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(port, Is.EqualTo(9101), "the --listen default the README documents");
        foreach (var (probe, path) in new[] { (ipvs.LivenessProbe!, "/healthz"), (ipvs.ReadinessProbe!, "/readyz") })
        {
            Assert.That(probe.HttpGet.Path, Is.EqualTo(path));
            var named = probe.HttpGet.Port.GetString();
            Assert.That(ipvs.Ports!.Single(p => p.Name == named).ContainerPort, Is.EqualTo(port));
        }
    }

    [Test]
    public async Task Termination_allows_the_drain_and_the_shutdown_after_it()
    {
        var pod = await LbPod();
        var env = Env(pod.Containers[0]);
        var grace = int.Parse(env["PORTABLE_LB_WITHDRAW_GRACE"], System.Globalization.CultureInfo.InvariantCulture);
        var limit = int.Parse(env["PORTABLE_LB_DRAIN_LIMIT"], System.Globalization.CultureInfo.InvariantCulture);
        var preStop = pod.Containers[0].Lifecycle!.PreStop!.Sleep!.Seconds;
        Assert.That(limit, Is.GreaterThanOrEqualTo(grace));
        // The node's route keeps a terminating pod's busy flows for DrainTime from when node-routes sees the deletion,
        // on its own clock: the pod must be able to serve past that, with room for a late watch event.
        Assert.That(TimeSpan.FromSeconds(limit), Is.GreaterThanOrEqualTo(PortableLb.Reconcile.NodeRoutesLoop.DrainTime + TimeSpan.FromSeconds(10)));
        // preStop, at most the drain limit, then up to 5 s to stop keepalived and exabgp before the SIGKILL.
        Assert.That(pod.TerminationGracePeriodSeconds, Is.GreaterThanOrEqualTo(preStop + limit + 5));
    }

    [Test]
    public async Task Every_environment_setting_is_a_flag_that_portable_lb_run_accepts()
    {
        var flags = RunFlags();
        var ipvs = (await LbPod()).Containers.Single(c => c.Name == "ipvs");
        foreach (var name in Env(ipvs).Keys.Where(k => k.StartsWith("PORTABLE_LB_", StringComparison.Ordinal)))
        {
            Assert.That(flags, Does.Contain(FlagOf(name)), $"{name} is not the environment form of any `portable-lb run` flag");
        }
        foreach (var arg in ipvs.Args ?? [])
        {
            Assert.That(flags, Does.Contain(arg.Split('=')[0]), $"the Deployment passes {arg}");
        }
    }

    [Test]
    public async Task The_image_names_agree_with_the_folders_under_images()
    {
        var pod = await LbPod();
        var images = Path.Combine(Repository.Root, "images");
        foreach (var container in pod.Containers)
        {
            var image = container.Image.Split(':')[0];
            Assert.That(image, Is.EqualTo($"portable-lb/{container.Name}"));
            Assert.That(File.Exists(Path.Combine(images, container.Name, "Dockerfile")), Is.True, $"images/{container.Name}/Dockerfile builds {image}");
        }
    }

    internal static Dictionary<string, string> Env(Container container) =>
        (container.Env ?? []).Where(e => e.Value is not null).ToDictionary(e => e.Name, e => e.Value!);

    /// <summary>PORTABLE_LB_TUNING_CONFIGMAP → --tuning-configmap, as RunCommand derives the names.</summary>
    internal static string FlagOf(string environmentName) => "--" + environmentName["PORTABLE_LB_".Length..].ToLowerInvariant().Replace('_', '-');

    internal static HashSet<string> RunFlags() =>
        RunCommand.Create(TextWriter.Null).Options.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
}
