using PortableLb.Common;

namespace PortableLb.Validation;

/// <summary>The daemon's verdict on a candidate config. Output is the daemon's own words, kept for logs and Events.</summary>
public sealed record ValidationResult(bool IsValid, string Output)
{
    public static ValidationResult Valid { get; } = new(true, "");
}

/// <summary>One daemon's config check, run on a candidate before it may replace the live file.</summary>
public interface IConfigValidator
{
    string Daemon { get; }

    /// <exception cref="MissingProgramException">The daemon is not installed, so nothing can be validated.</exception>
    Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken);

    /// <summary>
    /// A config likely to be asked about soon (after each apply: the same state with every route withdrawn, which a
    /// shutdown or a lost backend needs at once). A validator that remembers verdicts may judge it in the
    /// background; the others ignore the hint.
    /// </summary>
    void Anticipate(string config)
    {
    }
}

/// <summary>`render --no-validate`: every candidate is accepted unjudged.</summary>
public sealed class SkippedValidation(string daemon) : IConfigValidator
{
    public string Daemon => daemon;

    public Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken) => Task.FromResult(ValidationResult.Valid);
}

/// <summary>
/// Writes the candidate to a private scratch file and asks the daemon's own checker about it: the same parser
/// that will load the live file is the only judge we trust.
/// </summary>
public abstract class DaemonConfigValidator(IProcessRunner runner, string program, TimeSpan timeout) : IConfigValidator
{
    /// <summary>Where the scratch folders go; the system temp folder unless a caller (a test) wants its own.</summary>
    public string ScratchRoot { get; init; } = Path.GetTempPath();

    public abstract string Daemon { get; }

    protected abstract IReadOnlyList<string> Arguments(string file);

    protected virtual IReadOnlyDictionary<string, string>? Environment => null;

    public async Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateDirectory(Path.Combine(ScratchRoot, $"portable-lb-validate-{Guid.NewGuid():N}"),
            // Private: a candidate exabgp.conf can carry the BGP password.
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var file = Path.Combine(directory.FullName, $"{Daemon}.conf");
            await File.WriteAllTextAsync(file, config, cancellationToken).ConfigureAwait(false);
            var result = await runner.RunAsync(program, Arguments(file), Environment, timeout, cancellationToken).ConfigureAwait(false);
            var output = string.Join("\n", new[] { result.StandardError.Trim(), result.StandardOutput.Trim() }.Where(s => s.Length > 0))
                .Replace(file, $"<{Daemon}.conf>", StringComparison.Ordinal);
            return new ValidationResult(result.ExitCode == 0, result.ExitCode == 0 ? output : $"{program} exited {result.ExitCode}: {output}");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}

/// <summary>`keepalived -t`: exit 0 only when the config parses without a single warning.</summary>
/// <remarks>
/// The validators' limits guard only against one that hangs. A check that is slow but working must be let finish:
/// killing it means the next try redoes the same work, so on a loaded node (or an emulated one, where `exabgp --test`
/// takes 15–60 s instead of under one) a tight limit never converges and nothing is applied at all.
/// </remarks>
public sealed class KeepalivedValidator(IProcessRunner runner, string program = "keepalived", TimeSpan? timeout = null)
    : DaemonConfigValidator(runner, program, timeout ?? TimeSpan.FromMinutes(2))
{
    public override string Daemon => "keepalived";

    protected override IReadOnlyList<string> Arguments(string file) => ["-t", "-f", file];
}

/// <summary>
/// `exabgp --test`, which encodes every route and so catches what --validate lets through (an IPv6 route with an
/// IPv4 next-hop). The CLI pipe is off so the check neither looks for nor creates named pipes.
/// </summary>
public sealed class ExabgpValidator(IProcessRunner runner, string program = "exabgp", TimeSpan? timeout = null)
    : DaemonConfigValidator(runner, program, timeout ?? TimeSpan.FromMinutes(5))
{
    public override string Daemon => "exabgp";

    protected override IReadOnlyList<string> Arguments(string file) => ["--test", file];

    protected override IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>
    {
        ["exabgp_api_cli"] = "false",
        ["exabgp_log_destination"] = "stdout",
    };
}

/// <summary>The validators `run` uses: each daemon's own check, skipped for a shape that daemon accepted before.</summary>
public static class RememberingValidators
{
    public static (IConfigValidator Keepalived, IConfigValidator Exabgp) Create(IProcessRunner runner) =>
        (new RealServerOnlyChangeValidator(new KeepalivedValidator(runner)), new RouteOnlyChangeValidator(new ExabgpValidator(runner)));
}
