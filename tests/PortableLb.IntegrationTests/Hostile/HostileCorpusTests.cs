using System.Diagnostics;
using PortableLb.Cli;
using PortableLb.IntegrationTests.Controller;
using PortableLb.Tests;

namespace PortableLb.IntegrationTests.Hostile;

/// <summary>
/// Every entry of <see cref="HostileCorpus"/> through both ways in: `render` once, and `run --objects` as the
/// long-running controller. Each must name its problem, serve the honest Service, keep what it rejects out of the
/// daemons' files, and never take the process down.
/// </summary>
[CancelAfter(120_000)]
public sealed class HostileCorpusTests
{
    private static readonly string[] Pod = ["--node-ip", "192.0.2.1", "--pod-ip", "10.244.0.10"];
    private string _root = "";

    [SetUp]
    public void Setup() => _root = Directory.CreateTempSubdirectory("portable-lb-hostile-").FullName;

    [TearDown]
    public void Cleanup() => Directory.Delete(_root, recursive: true);

    private (string Objects, string Tuning) Write(HostileCase entry)
    {
        var objects = Directory.CreateDirectory(Path.Combine(_root, "objects")).FullName;
        File.WriteAllText(Path.Combine(objects, "objects.yaml"), entry.Objects);
        var tuning = Path.Combine(_root, "tuning.yaml");
        File.WriteAllText(tuning, entry.Tuning);
        return (objects, tuning);
    }

    private string Out(string name) => Path.Combine(_root, "out", name);

    [TestCaseSource(typeof(HostileCorpus), nameof(HostileCorpus.Cases))]
    public async Task Render_names_the_problem_and_writes_only_what_is_valid(HostileCase entry)
    {
        Daemons.Require("keepalived", "exabgp");
        var (objects, tuning) = Write(entry);
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var started = Stopwatch.StartNew();
        var exit = await Program.RunAsync(["render", "--objects", objects, "--tuning", tuning, "--out", Path.Combine(_root, "out"), .. Pod, .. entry.ExtraArguments], stdout, stderr);
        var said = stdout + "\n" + stderr;
        Assert.That(exit, Is.EqualTo(entry.RenderExit), said);
        Assert.That(said, Does.Contain(entry.Message));
        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), "no input may cost minutes");
        if (entry.RenderExit == ExitCodes.Fatal)
        {
            Assert.That(File.Exists(Out("ipvs.conf")), Is.False, "nothing is written on a fatal error");
            return;
        }
        var ipvs = File.ReadAllText(Out("ipvs.conf"));
        foreach (var served in entry.Served) Assert.That(ipvs, Does.Contain($"virtual_server {served} "));
        foreach (var absent in entry.NotServed) Assert.That(ipvs, Does.Not.Contain(absent));
        if (entry.ExabgpContains is { } piece) Assert.That(File.ReadAllText(Out("exabgp.conf")), Does.Contain(piece));
    }

    [TestCaseSource(typeof(HostileCorpus), nameof(HostileCorpus.Cases))]
    public async Task Run_reports_the_problem_serves_the_rest_and_stays_up(HostileCase entry)
    {
        Daemons.Require("keepalived", "exabgp");
        var (objects, tuning) = Write(entry);
        var run = Directory.CreateDirectory(Path.Combine(_root, "run")).FullName;
        var output = new List<string>();
        using var process = ControllerProcess.Start(
            ["--objects", objects, "--tuning", tuning, "--config-dir", run, "--listen", "127.0.0.1:0", "--data-plane", "off",
             "--keepalived-pidfile", Path.Combine(run, "keepalived.pid"), "--exabgp-pidfile", Path.Combine(run, "exabgp.pid"), .. Pod, .. entry.ExtraArguments],
            output);
        try
        {
            string Log()
            {
                lock (output) return string.Join("\n", output);
            }
            var message = entry.RenderExit == ExitCodes.Success && !entry.Message.Contains("apiVersion", StringComparison.Ordinal) ? "Applied" : entry.Message;
            await Eventually.True(() => Log().Contains(message, StringComparison.Ordinal), $"\"{message}\" in the log", TimeSpan.FromSeconds(30));
            var ipvsPath = Path.Combine(run, "ipvs.conf");
            if (entry.RenderExit != ExitCodes.Fatal)
            {
                await Eventually.True(() => File.Exists(ipvsPath) && entry.Served.All(s => File.ReadAllText(ipvsPath).Contains($"virtual_server {s} ", StringComparison.Ordinal)), "the valid rest to be served", TimeSpan.FromSeconds(30));
                var ipvs = File.ReadAllText(ipvsPath);
                foreach (var absent in entry.NotServed) Assert.That(ipvs, Does.Not.Contain(absent));
                if (entry.ExabgpContains is { } piece) Assert.That(File.ReadAllText(Path.Combine(run, "exabgp.conf")), Does.Contain(piece));
            }
            else
            {
                Assert.That(File.Exists(ipvsPath), Is.False, "a fatal tuning writes nothing");
            }

            var port = Log().Split('\n').Select(l => System.Text.RegularExpressions.Regex.Match(l, @"Now listening on: http://127\.0\.0\.1:(\d+)")).First(m => m.Success).Groups[1].Value;
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            Assert.That((await http.GetAsync($"http://127.0.0.1:{port}/healthz")).IsSuccessStatusCode, Is.True, "no background task failed");
            Assert.That(process.HasExited, Is.False, Log());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
