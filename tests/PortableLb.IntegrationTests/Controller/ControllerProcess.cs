using System.Diagnostics;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>
/// `portable-lb run …` as a child process, its output kept for failure messages: `dotnet portable-lb.dll` from the
/// build, or the published executable named by PORTABLE_LB_BINARY (build.cake's Publish checks the NativeAOT
/// build the image ships that way).
/// </summary>
public static class ControllerProcess
{
    public static string? PublishedBinary => Environment.GetEnvironmentVariable("PORTABLE_LB_BINARY") is { Length: > 0 } path ? path : null;

    public static Process Start(IEnumerable<string> arguments, List<string>? output = null, Action<ProcessStartInfo>? configure = null) =>
        Start("run", arguments, output, configure);

    /// <summary>Any of the program's commands (`run`, `render`, `node-routes`).</summary>
    public static Process Start(string command, IEnumerable<string> arguments, List<string>? output = null, Action<ProcessStartInfo>? configure = null)
    {
        var start = new ProcessStartInfo(PublishedBinary ?? Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        IEnumerable<string> program = PublishedBinary is null ? [Path.Combine(AppContext.BaseDirectory, "portable-lb.dll"), command] : [command];
        foreach (var argument in program.Concat(arguments)) start.ArgumentList.Add(argument);
        configure?.Invoke(start);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null && output is not null) lock (output) output.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null && output is not null) lock (output) output.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
