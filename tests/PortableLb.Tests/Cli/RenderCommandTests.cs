using System.Diagnostics;
using PortableLb.Cli;

namespace PortableLb.Tests.Cli;

public sealed class RenderCommandTests
{
    private string _out = "";

    [SetUp]
    public void CreateOutput() => _out = Directory.CreateTempSubdirectory("portable-lb-cli-").FullName;

    [TearDown]
    public void RemoveOutput() => Directory.Delete(_out, recursive: true);

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await Program.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public async Task The_bundled_example_renders_validates_and_writes_both_files()
    {
        Daemons.Require("keepalived", "exabgp");
        var (code, output, errors) = await Run("render", "--out", _out);
        Assert.That(code, Is.EqualTo(ExitCodes.Success), errors);
        Assert.That(output, Does.Contain("validated ipvs.conf with keepalived -t: ok").And.Contain("validated exabgp.conf with exabgp --test: ok"));
        Assert.That(await File.ReadAllTextAsync(Path.Combine(_out, "ipvs.conf")), Does.Contain("real_server 172.16.21.2 80").And.Contain("lb_algo lc"));
        Assert.That(await File.ReadAllTextAsync(Path.Combine(_out, "exabgp.conf")), Does.Contain("route 10.1.1.0/24 next-hop 10.0.0.106;"));
    }

    [Test]
    public async Task A_second_identical_run_writes_nothing()
    {
        await Run("render", "--out", _out, "--no-validate");
        var (code, output, _) = await Run("render", "--out", _out, "--no-validate");
        Assert.That(code, Is.EqualTo(ExitCodes.Success));
        Assert.That(output, Does.Contain("ipvs.conf: unchanged").And.Contain("exabgp.conf: unchanged"));
    }

    [TestCase("render", "--bogus")]
    [TestCase("render", "--node-ip", "10.0.0.300")]
    [TestCase("render", "--node-ip", "10.0.0.1", "--node-ip", "10.0.0.2")]
    [TestCase("render", "--service", "no-slash")]
    [TestCase("frobnicate")]
    public async Task A_usage_error_exits_2_and_writes_nothing(params string[] args)
    {
        var (code, _, errors) = await Run([.. args, "--out", _out]);
        Assert.That(code, Is.EqualTo(ExitCodes.Fatal));
        Assert.That(errors, Does.StartWith("error: "));
        Assert.That(Directory.GetFiles(_out), Is.Empty);
    }

    [Test]
    public async Task Output_that_fails_validation_exits_2_and_keeps_the_last_good_files()
    {
        Daemons.Require("keepalived", "exabgp");
        Assert.That((await Run("render", "--out", _out)).Code, Is.EqualTo(ExitCodes.Success));
        var good = await File.ReadAllTextAsync(Path.Combine(_out, "ipvs.conf"));

        var templates = Directory.CreateTempSubdirectory("portable-lb-bad-templates-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(templates, "ipvs.conf.scriban"), "not_a_keepalived_keyword 1\n");
            var (code, _, errors) = await Run("render", "--out", _out, "--templates", templates);
            Assert.That(code, Is.EqualTo(ExitCodes.Fatal));
            Assert.That(errors, Does.Contain("ipvs.conf failed keepalived's check").And.Contain("not_a_keepalived_keyword").And.Contain("nothing was written"));
            Assert.That(await File.ReadAllTextAsync(Path.Combine(_out, "ipvs.conf")), Is.EqualTo(good));
        }
        finally
        {
            Directory.Delete(templates, recursive: true);
        }
    }

    [Test]
    public async Task Bad_tuning_exits_2_and_names_the_field()
    {
        var tuning = Path.Combine(_out, "tuning.yaml");
        await File.WriteAllTextAsync(tuning, "virtualServer: {scheduler: fastest}\n");
        var (code, _, errors) = await Run("render", "--tuning", tuning, "--out", Path.Combine(_out, "o"), "--no-validate");
        Assert.That(code, Is.EqualTo(ExitCodes.Fatal));
        Assert.That(errors, Does.Contain("virtualServer.scheduler: must be one of"));
        Assert.That(Directory.Exists(Path.Combine(_out, "o")), Is.False);
    }

    [Test]
    public async Task Rejected_objects_exit_1_and_the_rest_is_still_written()
    {
        Daemons.Require("keepalived");
        var objects = Path.Combine(_out, "objects.yaml");
        await File.WriteAllTextAsync(objects, """
            apiVersion: v1
            kind: Service
            metadata: {name: bad, namespace: default, annotations: {portable-lb.io/addresses: "nope"}}
            spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, ports: [{port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: good, namespace: default}
            spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 192.0.2.10, ports: [{port: 80}]}
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: good-1, namespace: default, labels: {kubernetes.io/service-name: good}}
            addressType: IPv4
            ports: [{port: 80}]
            endpoints: [{addresses: [10.244.1.1]}]
            """);
        var (code, _, errors) = await Run("render", "--objects", objects, "--out", Path.Combine(_out, "o"));
        Assert.That(code, Is.EqualTo(ExitCodes.ObjectsRejected));
        Assert.That(errors, Does.Contain("rejected: Service default/bad: metadata.annotations[\"portable-lb.io/addresses\"]"));
        Assert.That(await File.ReadAllTextAsync(Path.Combine(_out, "o", "ipvs.conf")), Does.Contain("virtual_server 192.0.2.10 80"));
    }

    [Test]
    public async Task The_built_program_runs_with_dotnet_and_says_what_to_install_when_a_daemon_is_missing()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "portable-lb.dll");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _out };
        foreach (var arg in new[] { dll, "render" }) start.ArgumentList.Add(arg);
        start.Environment["PATH"] = "/nonexistent";
        using var process = Process.Start(start)!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.That(process.ExitCode, Is.EqualTo(ExitCodes.Fatal), stderr);
        Assert.That(stderr, Does.Contain("keepalived is not installed").And.Contain("apt-get install keepalived"));
        Assert.That(Directory.Exists(Path.Combine(_out, "out")), Is.False);
    }
}
