using System.Diagnostics;

namespace PortableLb.IntegrationTests.Build;

/// <summary>
/// The build's own install step, run through ./build.sh as a user runs it, on a machine where the daemons are missing:
/// /usr/sbin is hidden behind an empty tmpfs in a private mount namespace, and apt-get is a stand-in first on PATH
/// that records its arguments and "installs" a package by creating its program. A green CI on a machine that already
/// has every package never runs this path; this test always does.
/// </summary>
[CancelAfter(300_000)]
public sealed class InstallStepTests
{
    [Test]
    public async Task The_main_job_installs_keepalived_and_exabgp_with_apt_get_and_nothing_else()
    {
        Daemons.RequireRoot();
        Daemons.Require("unshare", "mount");
        var stub = Directory.CreateTempSubdirectory("plb-apt-").FullName;
        try
        {
            var log = Path.Combine(stub, "apt-get.log");
            var aptGet = Path.Combine(stub, "apt-get");
            await File.WriteAllTextAsync(aptGet, $$"""
                #!/bin/sh
                echo "$*" >> {{log}}
                [ "$1" = install ] || exit 0
                for word in "$@"; do
                  case "$word" in install|-*) ;; *) printf '#!/bin/sh\n' > "{{stub}}/$word"; chmod +x "{{stub}}/$word" ;; esac
                done
                """);
            File.SetUnixFileMode(aptGet, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

            var (exitCode, output) = await BuildAsync("__InstallDemoPrerequisites", stub);

            Assert.That(exitCode, Is.Zero, output);
            var calls = File.Exists(log) ? await File.ReadAllLinesAsync(log) : [];
            Assert.That(calls, Is.EqualTo(new[] { "update -qq", "install -y -qq --no-install-recommends keepalived exabgp" }), output);
        }
        finally
        {
            Directory.Delete(stub, recursive: true);
        }
    }

    [Test]
    public async Task A_package_that_does_not_provide_its_program_fails_the_step_by_name()
    {
        Daemons.RequireRoot();
        Daemons.Require("unshare", "mount");
        var stub = Directory.CreateTempSubdirectory("plb-apt-").FullName;
        try
        {
            // An apt-get that succeeds but installs nothing: the step must notice instead of going on.
            var aptGet = Path.Combine(stub, "apt-get");
            await File.WriteAllTextAsync(aptGet, "#!/bin/sh\nexit 0\n");
            File.SetUnixFileMode(aptGet, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

            var (exitCode, output) = await BuildAsync("__InstallDemoPrerequisites", stub);

            Assert.That(exitCode, Is.Not.Zero);
            Assert.That(output, Does.Contain("still missing: keepalived (keepalived), exabgp (exabgp)"));
        }
        finally
        {
            Directory.Delete(stub, recursive: true);
        }
    }

    /// <summary>./build.sh --target=TARGET with /usr/sbin empty and `firstOnPath` before /usr/bin and /bin.</summary>
    private static async Task<(int ExitCode, string Output)> BuildAsync(string target, string firstOnPath)
    {
        var start = new ProcessStartInfo("unshare", ["--mount", "--propagation", "private", "bash", "-c",
            "mount -t tmpfs -o size=1m empty /usr/sbin && exec ./build.sh --target=\"$0\"", target])
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PATH"] = $"{firstOnPath}:/usr/local/bin:/usr/bin:/bin";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(4));
        return (process.ExitCode, await output + await errors);
    }
}
