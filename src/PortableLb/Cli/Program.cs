using System.CommandLine;
using PortableLb.Validation;

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
            RenderCommand(output, errorOutput),
            RunCommand.Create(errorOutput),
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

    private static Command RenderCommand(TextWriter output, TextWriter errorOutput)
    {
        var objects = new Option<string[]>("--objects")
        {
            Description = "Manifest files or folders (YAML/JSON, multi-document, List). Default: the bundled thesis example.",
            AllowMultipleArgumentsPerToken = true,
        };
        var tuning = new Option<string?>("--tuning") { Description = "config.yaml with the tuning schema (the ConfigMap's data key)." };
        var nodeIps = new Option<string[]>("--node-ip") { Description = "This node's IP, once per address family: the default BGP next-hop." };
        var podIps = new Option<string[]>("--pod-ip") { Description = "This pod's IP, once per address family: BGP router-id and local-address." };
        var services = new Option<string[]>("--service") { Description = "Only this Service (NAMESPACE/NAME); repeatable." };
        var templates = new Option<string?>("--templates") { Description = "Folder with ipvs.conf.hbs and exabgp.conf.hbs to use instead of the built-in ones." };
        var outDir = new Option<string>("--out") { Description = "Where to write ipvs.conf and exabgp.conf.", DefaultValueFactory = _ => "out" };
        var noValidate = new Option<bool>("--no-validate") { Description = "Skip `keepalived -t` and `exabgp --test`." };

        var command = new Command("render", "Render and validate ipvs.conf and exabgp.conf from manifests, once.")
        {
            objects, tuning, nodeIps, podIps, services, templates, outDir, noValidate,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = new List<string>();
            var request = new RenderRequest(
                parse.GetValue(objects) ?? [],
                parse.GetValue(tuning),
                RunCommand.Addresses(parse.GetValue(nodeIps) ?? [], "--node-ip", problems),
                RunCommand.Addresses(parse.GetValue(podIps) ?? [], "--pod-ip", problems),
                RunCommand.ServiceNames(parse.GetValue(services) ?? [], problems),
                parse.GetValue(templates),
                parse.GetValue(outDir)!,
                !parse.GetValue(noValidate));
            if (problems.Count > 0)
            {
                foreach (var problem in problems) await errorOutput.WriteLineAsync($"error: {problem}").ConfigureAwait(false);
                return ExitCodes.Fatal;
            }
            var runner = new ProcessRunner();
            var validator = new CandidateValidator(new KeepalivedValidator(runner), new ExabgpValidator(runner));
            return await new RenderJob(validator, output, errorOutput).RunAsync(request, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }
}
