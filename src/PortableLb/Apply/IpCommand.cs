using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using PortableLb.Common;

namespace PortableLb.Apply;

/// <summary>iproute2's `ip`, for the node's routes: a failure becomes words in the caller's list, never an exception.</summary>
internal sealed class IpCommand(IProcessRunner runner)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static readonly string Protocol = DataPlane.RouteProtocol.ToString(CultureInfo.InvariantCulture);

    public static string Family(IPAddress address) => address.AddressFamily == AddressFamily.InterNetwork ? "-4" : "-6";

    public async Task<ProcessResult> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        try
        {
            return await runner.RunAsync("ip", arguments, null, Timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MissingProgramException or TimeoutException)
        {
            return new ProcessResult(-1, "", e.Message);
        }
    }

    /// <returns>Whether it worked; if not, the failure is in <paramref name="failures"/>.</returns>
    public async Task<bool> MustAsync(IReadOnlyList<string> arguments, List<string> failures, CancellationToken cancellationToken)
    {
        var result = await RunAsync(arguments, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode == 0) return true;
        failures.Add($"ip {string.Join(' ', arguments)}: {result.StandardError.Trim()}");
        return false;
    }

    /// <summary>The device the node reaches <paramref name="address"/> through (an LB pod's bridge or veth); null, with the failure recorded, when none does.</summary>
    public async Task<string?> DeviceTowardsAsync(IPAddress address, List<string> failures, CancellationToken cancellationToken)
    {
        using var route = await JsonAsync([Family(address), "route", "get", address.ToString()], failures, cancellationToken).ConfigureAwait(false);
        if (route is null) return null;
        var device = route.RootElement.EnumerateArray().Select(r => r.TryGetProperty("dev", out var dev) ? dev.GetString() : null).FirstOrDefault();
        if (device is null) failures.Add($"no device reaches LB pod {address}");
        return device;
    }

    /// <summary>`ip -j ARGUMENTS` as a JSON array; null (with the failure recorded) when it fails.</summary>
    public async Task<JsonDocument?> JsonAsync(IReadOnlyList<string> arguments, List<string> failures, CancellationToken cancellationToken)
    {
        var result = await RunAsync(["-j", .. arguments], cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            failures.Add($"ip -j {string.Join(' ', arguments)}: {result.StandardError.Trim()}");
            return null;
        }
        return JsonDocument.Parse(result.StandardOutput is { Length: > 0 } json ? json : "[]");
    }
}
