using System.Diagnostics;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>`dotnet portable-lb.dll run …` as a child process, its output kept for failure messages.</summary>
public static class ControllerProcess
{
    public static Process Start(IEnumerable<string> arguments, List<string>? output = null, Action<ProcessStartInfo>? configure = null)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "portable-lb.dll"), "run" }.Concat(arguments)) start.ArgumentList.Add(argument);
        configure?.Invoke(start);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null && output is not null) lock (output) output.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null && output is not null) lock (output) output.Add(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
