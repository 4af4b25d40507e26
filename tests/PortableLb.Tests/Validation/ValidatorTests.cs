using PortableLb.Common;
using PortableLb.Validation;

namespace PortableLb.Tests.Validation;

public sealed class ValidatorTests
{
    private static readonly ProcessRunner Runner = new();

    private const string ValidIpvs = """
        virtual_server 192.0.2.10 80 {
            delay_loop 5
            lb_algo rr
            lb_kind NAT
            protocol TCP
            real_server 10.244.1.1 8080 {
                weight 1
            }
        }

        """;

    [Test]
    public async Task Keepalived_accepts_a_clean_config()
    {
        Daemons.Require("keepalived");
        Assert.That((await new KeepalivedValidator(Runner).ValidateAsync(ValidIpvs, CancellationToken.None)).IsValid, Is.True);
    }

    [Test]
    public async Task Keepalived_rejects_a_config_that_only_warns_and_its_words_are_kept()
    {
        Daemons.Require("keepalived");
        var result = await new KeepalivedValidator(Runner).ValidateAsync("virtual_server 192.0.2.10 80 {\n delay_loop 5\n lb_algo rr\n lb_kind NAT\n protocol TCP\n}\n", CancellationToken.None);
        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Output, Does.Contain("has no real servers"));
        Assert.That(result.Output, Does.Not.Contain("/tmp/"), "the scratch file's path is replaced by its role");
    }

    [Test]
    public async Task Exabgp_test_rejects_an_IPv6_route_with_an_IPv4_next_hop()
    {
        Daemons.Require("exabgp");
        const string config = """
            neighbor 192.0.2.254 {
                router-id 192.0.2.1;
                local-address 192.0.2.1;
                local-as 65021;
                peer-as 65021;
                static {
                    route 2001:db8::1/128 next-hop 192.0.2.1;
                }
            }

            """;
        var validator = new ExabgpValidator(Runner);
        Assert.That((await validator.ValidateAsync(config, CancellationToken.None)).IsValid, Is.False);
        Assert.That((await validator.ValidateAsync(config.Replace("next-hop 192.0.2.1", "next-hop 2001:db8::ff"), CancellationToken.None)).IsValid, Is.True);
    }

    [Test]
    public void A_missing_daemon_is_a_clear_error_naming_it()
    {
        var validator = new KeepalivedValidator(Runner, program: "/nonexistent/keepalived");
        Assert.That(async () => await validator.ValidateAsync(ValidIpvs, CancellationToken.None),
            Throws.TypeOf<MissingProgramException>().With.Message.StartsWith("/nonexistent/keepalived is not installed"));
    }

    [Test]
    public async Task A_daemon_that_hangs_is_killed_at_the_timeout_with_its_children()
    {
        var pids = Path.Combine(Path.GetTempPath(), $"portable-lb-hang-{Guid.NewGuid():N}");
        try
        {
            // A shell that starts a child and waits on it, like a validator that runs helpers of its own.
            Assert.That(async () => await Runner.RunAsync("sh", ["-c", $"echo $$ > {pids}; sleep 30 & echo $! >> {pids}; wait"], null, TimeSpan.FromMilliseconds(500), CancellationToken.None),
                Throws.TypeOf<TimeoutException>().With.Message.Contains("sh did not finish within 0.5 s"));
            foreach (var pid in File.ReadAllLines(pids))
            {
                await WaitGone(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        finally
        {
            File.Delete(pids);
        }
    }

    private static async Task WaitGone(int pid)
    {
        for (var i = 0; i < 100 && !ProcessState.Gone(pid); i++) await Task.Delay(20);
        Assert.That(ProcessState.Gone(pid), $"pid {pid} still runs after the timeout");
    }

    [Test]
    public void A_cancelled_run_is_a_cancellation_not_a_timeout()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        Assert.That(async () => await Runner.RunAsync("sleep", ["30"], null, TimeSpan.FromSeconds(30), cancel.Token),
            Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task A_child_gets_an_empty_stdin_our_environment_and_both_outputs_and_its_exit_code_is_an_answer()
    {
        var result = await Runner.RunAsync("sh", ["-c", "cat; echo \"out $PORTABLE_LB_TEST\"; echo err >&2; exit 5"],
            new Dictionary<string, string> { ["PORTABLE_LB_TEST"] = "value" }, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That(result, Is.EqualTo(new ProcessResult(5, "out value\n", "err\n")));
    }

    [Test]
    public async Task Scratch_files_are_removed_after_validation()
    {
        Daemons.Require("keepalived");
        var root = Directory.CreateTempSubdirectory("portable-lb-scratch-").FullName;
        try
        {
            var result = await new KeepalivedValidator(Runner) { ScratchRoot = root }.ValidateAsync(ValidIpvs, CancellationToken.None);
            Assert.That(result.IsValid, Is.True);
            Assert.That(Directory.EnumerateFileSystemEntries(root), Is.Empty);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
