using System.CommandLine;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Validation;

namespace PortableLb.Cli;

/// <summary>
/// `portable-lb render`: one pass of the controller's own pipeline (<see cref="Reconciler"/>) over manifest files,
/// with no daemons beside it. What it writes into --out is byte for byte what `run --config-dir` would write for the
/// same objects, and nothing is written unless everything that is written has passed the daemons' own checks.
/// </summary>
public sealed class RenderJob(TextWriter output, TextWriter errorOutput, IProcessRunner runner)
{
    public static Command Create(TextWriter output, TextWriter errorOutput)
    {
        var factory = new OptionFactory(fromEnvironment: false);
        var common = new CommonOptions(factory, "Manifest files or folders (YAML/JSON, multi-document, List). Default: the bundled thesis example.");
        var outDir = factory.Single("--out", "Where to write ipvs.conf and exabgp.conf.", "out");
        var noValidate = new Option<bool>("--no-validate") { Description = "Skip `keepalived -t` and `exabgp --test`." };
        var command = new Command("render", "Render and validate ipvs.conf and exabgp.conf from manifests, once.") { outDir, noValidate };
        foreach (var option in common.All) command.Options.Add(option);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = new List<string>();
            var values = common.Parse(parse, problems);
            if (problems.Count > 0)
            {
                foreach (var problem in problems) await errorOutput.WriteLineAsync($"error: {problem}").ConfigureAwait(false);
                return ExitCodes.Fatal;
            }
            return await new RenderJob(output, errorOutput, new ProcessRunner()).RunAsync(values, parse.GetValue(outDir)!, !parse.GetValue(noValidate), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public async Task<int> RunAsync(CommonValues request, string outputDirectory, bool validate, CancellationToken cancellationToken)
    {
        var bundled = request.Objects.Count == 0;
        var manifests = bundled ? BundledExample.Objects() : ManifestReader.ReadPaths(request.Objects);
        output.WriteLine($"read {manifests.Documents} documents from {(bundled ? BundledExample.Name : string.Join(", ", request.Objects))}: {manifests.Snapshot.Services.Count} Services, {manifests.Snapshot.EndpointSlices.Count} EndpointSlices");

        var tuningChoice = CommonOptions.Tuning(request, "default");
        if (bundled && tuningChoice is { File: null, ConfigMap: null }) tuningChoice = tuningChoice with { Builtin = (BundledExample.Tuning(), BundledExample.TuningName) };
        var (tuning, tuningErrors) = tuningChoice.CreateProvider().Current(manifests.Snapshot);
        // Once, with nothing to fall back on: any problem in the tuning is fatal here.
        if (tuningErrors.Count > 0)
        {
            foreach (var error in tuningErrors) errorOutput.WriteLine($"error: {error}");
            return ExitCodes.Fatal;
        }
        if (tuningChoice.Description is { } source) output.WriteLine($"tuning from {source}");

        ReconcileOutcome outcome;
        try
        {
            var reconciler = new Reconciler(TemplateSet.Load(request.TemplatesDirectory),
                validate ? new KeepalivedValidator(runner) : new SkippedValidation("keepalived"),
                validate ? new ExabgpValidator(runner) : new SkippedValidation("exabgp"),
                NoDaemons.Instance, new ConfigFiles(outputDirectory));
            outcome = await reconciler.ReconcileAsync(manifests.Snapshot, tuning, request.Node, request.Services, ServingFacts.Ungated, cancellationToken).ConfigureAwait(false);
        }
        catch (TemplateException e)
        {
            errorOutput.WriteLine($"error: template: {e.Message}");
            return ExitCodes.Fatal;
        }
        catch (MissingProgramException e)
        {
            errorOutput.WriteLine($"error: cannot validate: {e.Message}. Install it (Debian: apt-get install {e.Program}) or pass --no-validate.");
            return ExitCodes.Fatal;
        }
        catch (TimeoutException e)
        {
            errorOutput.WriteLine($"error: cannot validate: {e.Message}");
            return ExitCodes.Fatal;
        }

        foreach (var warning in manifests.Warnings) errorOutput.WriteLine($"warning: {warning}");
        foreach (var warning in outcome.Build.Warnings) errorOutput.WriteLine($"warning: {warning}");
        var bgpOn = outcome.Build.State.Bgp is not null;
        switch (outcome.Result)
        {
            case ReconcileResult.ConfigError:
                foreach (var failure in outcome.Failures) errorOutput.WriteLine($"error: {failure}");
                return ExitCodes.Fatal;
            case ReconcileResult.Rejected:
                foreach (var failure in outcome.Failures) errorOutput.WriteLine($"error: {failure}");
                errorOutput.WriteLine("error: nothing was written");
                return ExitCodes.Fatal;
        }
        if (outcome.Build.State.Vrrp is { } vrrp) output.WriteLine($"L2 mode: {vrrp.Instances.Count} VRRP instances in ipvs.conf; exabgp stays idle");
        else if (!bgpOn) errorOutput.WriteLine("warning: BGP is off (no bgp.peers in the tuning): exabgp.conf announces nothing");
        if (validate)
        {
            output.WriteLine("validated ipvs.conf with keepalived -t: ok");
            output.WriteLine(bgpOn ? "validated exabgp.conf with exabgp --test: ok" : "exabgp.conf not validated: BGP is off");
        }

        PrintSummary(outcome.Build);
        foreach (var (file, written) in outcome.Writes)
        {
            output.WriteLine($"{Path.Combine(outputDirectory, file.Name)}: {(written == WriteOutcome.Written ? "written" : "unchanged")}");
        }

        var rejected = manifests.Errors.Count + outcome.Build.Errors.Count;
        foreach (var error in manifests.Errors) errorOutput.WriteLine($"rejected: {error}");
        foreach (var error in outcome.Build.Errors) errorOutput.WriteLine($"rejected: {error}");
        return rejected > 0 ? ExitCodes.ObjectsRejected : ExitCodes.Success;
    }

    private void PrintSummary(BuildResult result)
    {
        var state = result.State;
        output.WriteLine($"{result.Services.Count} Services served: {state.VirtualServers.Count} virtual servers, {state.VirtualServers.Sum(v => v.RealServers.Count)} real servers, {state.Announcements.Count} announcements");
        foreach (var service in result.Services)
        {
            var announced = service.Announced.Count > 0 ? $"announced {string.Join(", ", service.Announced)}" : "announced nothing";
            var withdrawn = service.Withdrawn.Count > 0 ? $"; not announced {string.Join(", ", service.Withdrawn)}" : "";
            output.WriteLine($"  {service.Name}: {string.Join(", ", service.Addresses)}: {service.VirtualServers} virtual servers, {service.RealServers} real servers, {announced}{withdrawn}");
        }
    }
}
