using PortableLb.Validation;

namespace PortableLb.Tests.Validation;

/// <summary>Counts the checks that reach the daemon; accepts everything unless it wraps a real validator.</summary>
internal sealed class CountingValidator(string daemon, IConfigValidator? inner = null) : IConfigValidator
{
    public int Calls { get; private set; }

    public string Daemon => daemon;

    public Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken)
    {
        Calls++;
        return inner?.ValidateAsync(config, cancellationToken) ?? Task.FromResult(ValidationResult.Valid);
    }
}
