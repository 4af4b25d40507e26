using PortableLb.Rendering;

namespace PortableLb.Validation;

public sealed record CandidateVerdict(ValidationResult Keepalived, ValidationResult? Exabgp)
{
    public bool IsValid => Keepalived.IsValid && (Exabgp?.IsValid ?? true);

    public IEnumerable<string> Failures()
    {
        if (!Keepalived.IsValid) yield return $"ipvs.conf failed keepalived's check: {Keepalived.Output}";
        if (Exabgp is { IsValid: false } exabgp) yield return $"exabgp.conf failed exabgp's check: {exabgp.Output}";
    }
}

/// <summary>Checks both files of a candidate, in parallel, before either may go live.</summary>
public sealed class CandidateValidator(IConfigValidator keepalived, IConfigValidator exabgp)
{
    // checkExabgp is false when BGP is off: the file is then only a comment, which exabgp rejects as empty.
    public async Task<CandidateVerdict> ValidateAsync(RenderedConfigs configs, bool checkExabgp, CancellationToken cancellationToken)
    {
        var ipvs = keepalived.ValidateAsync(configs.IpvsConf, cancellationToken);
        var bgp = checkExabgp ? exabgp.ValidateAsync(configs.ExabgpConf, cancellationToken) : Task.FromResult<ValidationResult>(null!);
        await Task.WhenAll(ipvs, bgp).ConfigureAwait(false);
        return new CandidateVerdict(await ipvs.ConfigureAwait(false), checkExabgp ? await bgp.ConfigureAwait(false) : null);
    }
}
