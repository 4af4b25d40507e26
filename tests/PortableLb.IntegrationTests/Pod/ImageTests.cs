namespace PortableLb.IntegrationTests.Pod;

/// <summary>
/// The images as built (./build.sh --target=Images), checked for what the pod relies on even where the manifests
/// say nothing: who exabgp runs as, and that both containers judge and run exabgp.conf with the same exabgp.
/// </summary>
[CancelAfter(300_000)]
public sealed class ImageTests
{
    private static Task<string> Podman(params string[] arguments) => HostCommand.RunAsync(["podman", .. arguments], Cluster.ClusterLab.PodmanSettings);

    [Test]
    public async Task The_exabgp_image_runs_as_uid_and_gid_10179_the_pods_fsGroup_without_any_runAsGroup()
    {
        Daemons.RequireRoot();
        Daemons.Require("podman");
        Assert.That(await Podman("run", "--rm", "--network", "none", "--entrypoint", "id", await Cluster.ClusterLab.ImageOfAsync("exabgp")), Does.StartWith("uid=10179(portablelb) gid=10179(portablelb)"));
    }

    [Test]
    public async Task The_ipvs_image_validates_with_the_exabgp_release_the_exabgp_image_runs()
    {
        Daemons.RequireRoot();
        Daemons.Require("podman");
        var inIpvs = await Podman("run", "--rm", "--network", "none", "--entrypoint", "exabgp", await Cluster.ClusterLab.ImageOfAsync("ipvs"), "--version");
        var inExabgp = await Podman("run", "--rm", "--network", "none", "--entrypoint", "exabgp", await Cluster.ClusterLab.ImageOfAsync("exabgp"), "--version");
        Assert.That(inIpvs.Split('\n')[0], Does.StartWith("ExaBGP : 4."));
        Assert.That(inIpvs.Split('\n')[0], Is.EqualTo(inExabgp.Split('\n')[0]));
    }

    [Test]
    public async Task Both_entrypoints_run_tini_as_a_subreaper_because_in_the_pod_it_is_not_pid_1()
    {
        Daemons.RequireRoot();
        Daemons.Require("podman");
        foreach (var image in new[] { await Cluster.ClusterLab.ImageOfAsync("ipvs"), await Cluster.ClusterLab.ImageOfAsync("exabgp") })
        {
            var entrypoint = await Podman("image", "inspect", "--format", "{{json .Config.Entrypoint}}", image);
            Assert.That(entrypoint, Does.StartWith("[\"/usr/bin/tini\",\"-s\",\"--\""), image);
        }
    }
}
