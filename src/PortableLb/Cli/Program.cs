using System.CommandLine;

// keepalived, IPVS, nftables and libc signals: PortableLb runs where its daemons do.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace PortableLb.Cli;

public static class Program
{
    public static Task<int> Main(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errorOutput)
    {
        var root = new RootCommand("PortableLb: an in-cluster load balancer for Kubernetes (keepalived/IPVS + exabgp in a pod)")
        {
            RenderJob.Create(output, errorOutput),
            RunCommand.Create(errorOutput),
            NodeRoutesCommand.Create(errorOutput),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) await errorOutput.WriteLineAsync($"error: {error.Message}").ConfigureAwait(false);
            await errorOutput.WriteLineAsync("see `portable-lb --help`").ConfigureAwait(false);
            return ExitCodes.Fatal;
        }
        try
        {
            // Our own handler: the library's would exit 1, which the render contract reserves for rejected objects.
            return await parsed.InvokeAsync(new InvocationConfiguration
            {
                Output = output,
                Error = errorOutput,
                EnableDefaultExceptionHandler = false,
                // The library would end the process 2 s after SIGTERM; `run` needs its withdraw grace period.
                ProcessTerminationTimeout = null,
            }).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await errorOutput.WriteLineAsync($"error: {e}").ConfigureAwait(false);
            return ExitCodes.Fatal;
        }
    }
}
