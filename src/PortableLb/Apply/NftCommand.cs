using PortableLb.Common;

namespace PortableLb.Apply;

/// <summary>`nft -f`: a whole ruleset in one transaction, so a table is replaced atomically or not at all.</summary>
internal static class NftCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <returns>nft's result; a missing nft or one that ran out of time is a failed result, not an exception.</returns>
    public static async Task<ProcessResult> ApplyAsync(IProcessRunner runner, string ruleset, CancellationToken cancellationToken)
    {
        // nft reads the ruleset from a file; a private temp file keeps it off the command line.
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, ruleset, cancellationToken).ConfigureAwait(false);
            return await runner.RunAsync("nft", ["-f", file], null, Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MissingProgramException or TimeoutException)
        {
            return new ProcessResult(-1, "", e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
