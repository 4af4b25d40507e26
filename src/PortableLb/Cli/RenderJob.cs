using System.Net;
using PortableLb.Apply;
using PortableLb.Model;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;

namespace PortableLb.Cli;

public sealed record RenderRequest(
    IReadOnlyList<string> Objects,
    string? TuningFile,
    IReadOnlyList<IPAddress> NodeIps,
    IReadOnlyList<IPAddress> PodIps,
    IReadOnlyList<ServiceName> Services,
    string? TemplatesDirectory,
    string OutputDirectory,
    bool Validate);

/// <summary>
/// One pass of the pipeline for `portable-lb render`: read, build, render, validate both files, then write both.
/// Nothing is written unless everything that is written has passed the daemons' own checks.
/// </summary>
public sealed class RenderJob(CandidateValidator validator, TextWriter output, TextWriter errorOutput)
{
    public async Task<int> RunAsync(RenderRequest request, CancellationToken cancellationToken)
    {
        var manifests = request.Objects.Count == 0 ? BundledExample.Objects() : ManifestReader.ReadPaths(request.Objects);
        var objectsName = request.Objects.Count == 0 ? BundledExample.Name : string.Join(", ", request.Objects);
        output.WriteLine($"read {manifests.Documents} documents from {objectsName}: {manifests.Snapshot.Services.Count} Services, {manifests.Snapshot.EndpointSlices.Count} EndpointSlices");

        if (LoadTuning(request) is not { } tuning) return ExitCodes.Fatal;
        var node = NodeAddresses.FromLists(request.NodeIps, request.PodIps, out var nodeErrors);
        if (nodeErrors.Count > 0)
        {
            foreach (var error in nodeErrors) errorOutput.WriteLine($"error: {error}");
            return ExitCodes.Fatal;
        }

        var result = DesiredStateBuilder.Build(manifests.Snapshot, tuning, node, request.Services);
        foreach (var warning in result.Warnings) errorOutput.WriteLine($"warning: {warning}");
        if (result.ConfigErrors.Count > 0)
        {
            foreach (var error in result.ConfigErrors) errorOutput.WriteLine($"error: {error}");
            return ExitCodes.Fatal;
        }
        if (result.State.Bgp is null) errorOutput.WriteLine("warning: BGP is off (no bgp.peers in the tuning): exabgp.conf announces nothing");

        RenderedConfigs configs;
        try
        {
            var templates = request.TemplatesDirectory is null ? TemplateSet.Embedded() : TemplateSet.FromDirectory(request.TemplatesDirectory);
            configs = new ConfigRenderer(templates).Render(result.State);
        }
        catch (TemplateException e)
        {
            errorOutput.WriteLine($"error: template: {e.Message}");
            return ExitCodes.Fatal;
        }

        if (request.Validate && !await ValidateAsync(configs, result.State.Bgp is not null, cancellationToken).ConfigureAwait(false))
        {
            return ExitCodes.Fatal;
        }

        var ipvsPath = Path.Combine(request.OutputDirectory, "ipvs.conf");
        var exabgpPath = Path.Combine(request.OutputDirectory, "exabgp.conf");
        var ipvsWrite = await AtomicFileWriter.WriteAsync(ipvsPath, configs.IpvsConf, cancellationToken).ConfigureAwait(false);
        var exabgpWrite = await AtomicFileWriter.WriteAsync(exabgpPath, configs.ExabgpConf, cancellationToken).ConfigureAwait(false);

        PrintSummary(result);
        output.WriteLine($"{ipvsPath}: {Describe(ipvsWrite)}");
        output.WriteLine($"{exabgpPath}: {Describe(exabgpWrite)}");

        var rejected = manifests.Errors.Count + result.Errors.Count;
        foreach (var error in manifests.Errors) errorOutput.WriteLine($"rejected: {error}");
        foreach (var error in result.Errors) errorOutput.WriteLine($"rejected: {error}");
        return rejected > 0 ? ExitCodes.ObjectsRejected : ExitCodes.Success;
    }

    private TuningSettings? LoadTuning(RenderRequest request)
    {
        string text, source;
        if (request.TuningFile is { } file)
        {
            try
            {
                text = File.ReadAllText(file);
                source = file;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errorOutput.WriteLine($"error: {file}: cannot be read: {e.Message}");
                return null;
            }
        }
        else if (request.Objects.Count == 0)
        {
            (text, source) = (BundledExample.Tuning(), "bundled example tuning (examples/thesis/tuning/config.yaml)");
        }
        else
        {
            return TuningSettings.Default;
        }

        var parsed = TuningParser.Parse(text, source);
        foreach (var error in parsed.Errors) errorOutput.WriteLine($"error: {error}");
        if (parsed.Tuning is not null) output.WriteLine($"tuning from {source}");
        return parsed.Tuning;
    }

    private async Task<bool> ValidateAsync(RenderedConfigs configs, bool bgpEnabled, CancellationToken cancellationToken)
    {
        CandidateVerdict verdict;
        try
        {
            verdict = await validator.ValidateAsync(configs, bgpEnabled, cancellationToken).ConfigureAwait(false);
        }
        catch (MissingProgramException e)
        {
            errorOutput.WriteLine($"error: cannot validate: {e.Message}. Install it (Debian: apt-get install {e.Program}) or pass --no-validate.");
            return false;
        }
        catch (TimeoutException e)
        {
            errorOutput.WriteLine($"error: cannot validate: {e.Message}");
            return false;
        }
        foreach (var failure in verdict.Failures()) errorOutput.WriteLine($"error: {failure}");
        if (!verdict.IsValid)
        {
            errorOutput.WriteLine("error: nothing was written");
            return false;
        }
        output.WriteLine("validated ipvs.conf with keepalived -t: ok");
        output.WriteLine(bgpEnabled ? "validated exabgp.conf with exabgp --test: ok" : "exabgp.conf not validated: BGP is off");
        return true;
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

    private static string Describe(WriteOutcome outcome) => outcome == WriteOutcome.Written ? "written" : "unchanged";
}
