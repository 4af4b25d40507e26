using System.Diagnostics;

namespace PortableLb.Testing;

/// <summary>Runs a setup command of a lab (ip, gobgp, the lab scripts) and returns its output; a non-zero exit throws with its stderr.</summary>
public static class HostCommand
{
    public static async Task<string> RunAsync(IReadOnlyList<string> command, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.Skip(1)) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (process.ExitCode != 0) throw new InvalidOperationException($"{string.Join(" ", command)} exited {process.ExitCode}: {(await error).Trim()}");
        return (await output).Trim();
    }
}
