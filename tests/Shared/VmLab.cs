using System.Diagnostics;

namespace PortableLb.Testing;

/// <summary>
/// tests/vm/vm-host.sh from C#: boots Debian's kernel (which has IPVS) under QEMU, runs tests/vm/vm-guest.sh in
/// the given mode there, and keeps what the guest wrote back until disposed. Downloads are cached in .cache/vm at
/// the repository root. Needs root (network namespaces inside the guest share nothing with this machine, but QEMU's
/// 9p export of / must read every file).
/// </summary>
public sealed class VmLab : IDisposable
{
    private VmLab(string results, int exitCode, string console)
    {
        Results = results;
        ExitCode = exitCode;
        Console = console;
    }

    /// <summary>The folder the guest wrote into (checks.txt, events.txt, throughput.txt, portable-lb.log, …).</summary>
    public string Results { get; }

    /// <summary>The guest's exit code: its number of failed checks; 97 when it reported none.</summary>
    public int ExitCode { get; }

    /// <summary>The host script's and the guest's step lines and the kernel console.</summary>
    public string Console { get; }

    public IReadOnlyList<string> Lines(string file) => File.Exists(Path.Combine(Results, file)) ? File.ReadAllLines(Path.Combine(Results, file)) : [];

    public string Text(string file) => File.Exists(Path.Combine(Results, file)) ? File.ReadAllText(Path.Combine(Results, file)) : "";

    /// <summary>Checks, event timings, and the tails of the guest's and the controller's output: a failure's context.</summary>
    public string Summary() =>
        $"{string.Join("\n", Lines("checks.txt"))}\n--- events (ms)\n{Text("events.txt")}\n--- guest\n{Tail(Console, 60)}\n--- portable-lb\n{Tail(Text("portable-lb.log"), 40)}";

    /// <summary>Runs `vm-guest.sh PORTABLE_LB MODE EVENTS` in a fresh VM and waits for it to power off (or <paramref name="timeout"/>, 600 s by default, to pass).</summary>
    public static async Task<VmLab> RunAsync(string mode, int events, CancellationToken cancellationToken = default, TimeSpan? timeout = null)
    {
        var root = Repository.Root;
        var results = Directory.CreateTempSubdirectory("plb-vm-").FullName;
        var start = new ProcessStartInfo("bash",
        [
            Path.Combine(root, "tests", "vm", "vm-host.sh"), Path.Combine(root, ".cache", "vm"), results,
            Path.Combine(root, "tests", "vm", "vm-guest.sh"), PortableLbProgram(), mode, events.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (timeout is { } limit) start.Environment["VM_TIMEOUT"] = ((int)limit.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var vm = Process.Start(start)!;
        var output = vm.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = vm.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await vm.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            vm.Kill(entireProcessTree: true);
            throw;
        }
        return new VmLab(results, vm.ExitCode, await output + await errors);
    }

    /// <summary>The published executable when PORTABLE_LB_BINARY names one (it starts far faster under emulation), else the build's dll.</summary>
    private static string PortableLbProgram() => Environment.GetEnvironmentVariable("PORTABLE_LB_BINARY") is { Length: > 0 } binary
        ? binary
        : Path.Combine(AppContext.BaseDirectory, "portable-lb.dll");

    private static string Tail(string text, int lines) => string.Join("\n", text.Split('\n').TakeLast(lines));

    public void Dispose() => Directory.Delete(Results, recursive: true);
}
