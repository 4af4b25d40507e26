using System.Diagnostics;

namespace PortableLb.Benchmarks;

/// <summary>
/// `portable-lb run` as a child: `dotnet portable-lb.dll` from the build, or the published executable named by
/// PORTABLE_LB_BINARY (the NativeAOT build that the ipvs image ships).
/// </summary>
public static class ControllerCommand
{
    public static string Describe() => Environment.GetEnvironmentVariable("PORTABLE_LB_BINARY") is { Length: > 0 } binary
        ? $"published binary {binary}"
        : "framework-dependent build under `dotnet`";

    /// <param name="runArguments">The flags after `run`.</param>
    /// <param name="environment">Variables added to the child's environment.</param>
    /// <param name="output">Where to keep the child's output lines, when a caller wants them; otherwise they are drained.</param>
    public static Process Start(IEnumerable<string> runArguments, IReadOnlyDictionary<string, string>? environment = null, List<string>? output = null)
    {
        var binary = Environment.GetEnvironmentVariable("PORTABLE_LB_BINARY");
        var start = binary is { Length: > 0 } ? new ProcessStartInfo(binary) : new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "portable-lb.dll")]);
        start.ArgumentList.Add("run");
        foreach (var argument in runArguments) start.ArgumentList.Add(argument);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        var process = Process.Start(start)!;
        // Drained unless the caller keeps them: a soak logs a line per reconcile.
        process.OutputDataReceived += (_, line) => Keep(output, line.Data);
        process.ErrorDataReceived += (_, line) => Keep(output, line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Keep(List<string>? output, string? line)
    {
        if (output is null || line is null) return;
        lock (output) output.Add(line);
    }

    public static long RssKiB(int pid) => StatusKiB(pid, "VmRSS:");

    /// <summary>"41.2 MiB (25.0 anonymous + 16.2 file)": the file part is the executable's pages in use.</summary>
    public static string Rss(int pid) =>
        $"{StatusKiB(pid, "VmRSS:") / 1024.0:0.0} MiB ({StatusKiB(pid, "RssAnon:") / 1024.0:0.0} anonymous + {StatusKiB(pid, "RssFile:") / 1024.0:0.0} file)";

    private static long StatusKiB(int pid, string field) =>
        long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
}
