using System.ComponentModel;
using CliWrap;
using CliWrap.Buffered;

namespace PortableLb.Common;

public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError);

/// <summary>Runs a child process to completion. The seam lets tests script a daemon's answers.</summary>
public interface IProcessRunner
{
    /// <exception cref="MissingProgramException">The program is not installed.</exception>
    /// <exception cref="TimeoutException">It ran longer than the timeout and was killed.</exception>
    Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken);
}

public sealed class MissingProgramException(string program, Exception inner)
    : Exception($"{program} is not installed or not on PATH ({inner.Message})", inner)
{
    public string Program { get; } = program;
}

/// <summary>
/// CliWrap underneath. Its validation is off because an exit code is an answer here (keepalived -t exits 5 on a
/// warning), not a failure; stdin is empty so a child that reads it ends instead of waiting on ours.
/// </summary>
public sealed class ProcessRunner : IProcessRunner
{
    public async Task<ProcessResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var command = CliWrap.Cli.Wrap(program)
            .WithArguments(arguments)
            .WithEnvironmentVariables(variables => { foreach (var (name, value) in environment ?? new Dictionary<string, string>()) variables.Set(name, value); })
            .WithStandardInputPipe(PipeSource.Null)
            .WithValidation(CommandResultValidation.None);

        // CliWrap's forceful cancellation kills the child's whole tree, so a validator's own children go with it.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var result = await command.ExecuteBufferedAsync(deadline.Token).ConfigureAwait(false);
            return new ProcessResult(result.ExitCode, result.StandardOutput, result.StandardError);
        }
        catch (Win32Exception e)
        {
            throw new MissingProgramException(program, e);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{program} did not finish within {timeout.TotalSeconds:0.#} s and was killed");
        }
    }
}
