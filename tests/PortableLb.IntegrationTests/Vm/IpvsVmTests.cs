using System.Diagnostics;

namespace PortableLb.IntegrationTests.Vm;

/// <summary>
/// Real IPVS, which this machine's kernel lacks: tests/vm/vm-host.sh boots Debian's kernel under QEMU and runs
/// tests/vm/vm-guest.sh there, where portable-lb (supervised layout) makes keepalived program IPVS from manifests.
/// Each guest check comes back as one PASS/FAIL line. Downloads are cached in .cache/vm at the repository root.
/// </summary>
[CancelAfter(900_000)]
[NonParallelizable]
public sealed class IpvsVmTests
{
    private static string Root()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "tests", "vm", "vm-host.sh"))) return folder.FullName;
        }
        throw new FileNotFoundException("tests/vm/vm-host.sh not found");
    }

    [Test]
    public async Task Keepalived_programs_kernel_IPVS_from_what_portable_lb_renders()
    {
        Daemons.RequireRoot();
        Daemons.Require("qemu-system-x86_64", "keepalived", "ipvsadm", "ip", "dpkg-deb", "apt-get");
        var root = Root();
        var results = Directory.CreateTempSubdirectory("plb-vm-").FullName;
        try
        {
            var start = new ProcessStartInfo("bash",
            [
                Path.Combine(root, "tests", "vm", "vm-host.sh"), Path.Combine(root, ".cache", "vm"), results,
                Path.Combine(root, "tests", "vm", "vm-guest.sh"), Controller.ControllerProcess.PublishedBinary ?? Path.Combine(AppContext.BaseDirectory, "portable-lb.dll"), "1",
            ])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var vm = Process.Start(start)!;
            var output = vm.StandardOutput.ReadToEndAsync();
            var errors = vm.StandardError.ReadToEndAsync();
            await vm.WaitForExitAsync();

            var checks = File.Exists(Path.Combine(results, "checks.txt")) ? await File.ReadAllLinesAsync(Path.Combine(results, "checks.txt")) : [];
            var context = $"{string.Join("\n", checks)}\n--- events (ms)\n{Read(results, "events.txt")}\n--- guest\n{Tail(await errors, 60)}\n--- portable-lb\n{Tail(Read(results, "portable-lb.log"), 40)}";
            await TestContext.Out.WriteLineAsync(context);
            Assert.That(checks, Has.Length.GreaterThanOrEqualTo(12), $"the guest did not finish its checks\n{context}");
            Assert.That(checks.Where(c => !c.StartsWith("PASS ", StringComparison.Ordinal)), Is.Empty, context);
            Assert.That(vm.ExitCode, Is.Zero, context);
            _ = await output;
        }
        finally
        {
            Directory.Delete(results, recursive: true);
        }
    }

    private static string Read(string folder, string name) => File.Exists(Path.Combine(folder, name)) ? File.ReadAllText(Path.Combine(folder, name)) : "";

    private static string Tail(string text, int lines) => string.Join("\n", text.Split('\n').TakeLast(lines));
}
