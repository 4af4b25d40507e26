using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using PortableLb.Common;

namespace PortableLb.Validation;

/// <summary>
/// `exabgp --test` costs ~0.3 s of Python start-up, most of an endpoint-driven withdrawal's budget. A candidate whose
/// only difference from a config exabgp already accepted is which routes it lists is accepted without asking again:
/// every route line must have exactly the grammar the template produces, with addresses that parse, and the same
/// address families and attributes as routes exabgp has seen in that place. exabgp's verdict on such a line depends
/// on its shape and families (it rejects an IPv6 route with an IPv4 next-hop), not on which address it names. Any
/// other change (neighbours, timers, families, a password, a custom template's own lines) goes to exabgp.
/// </summary>
public sealed partial class RouteOnlyChangeValidator(IConfigValidator exabgp, int remembered = 64) : IConfigValidator
{
    private readonly Lock _lock = new();
    private readonly LinkedList<string> _accepted = new();
    private readonly Dictionary<string, Task> _pending = [];

    [GeneratedRegex(@"^\s*route (?<prefix>[0-9A-Fa-f:.]+/[0-9]{1,3}) next-hop (?<nextHop>[0-9A-Fa-f:.]+)(?<attributes> community \[[0-9a-z: -]+\])?;\z")]
    private static partial Regex RouteLine();

    public string Daemon => exabgp.Daemon;

    /// <summary>How many candidates were accepted on the strength of an earlier verdict.</summary>
    public int Shortcuts { get; private set; }

    public async Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken)
    {
        var skeleton = Skeleton(config);
        if (skeleton is not null)
        {
            Task? pending;
            lock (_lock) pending = _pending.GetValueOrDefault(skeleton);
            // A prewarm of this very shape is under way: its verdict arrives sooner than a check started now.
            if (pending is not null) await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (_accepted.Contains(skeleton))
                {
                    Shortcuts++;
                    return ValidationResult.Valid;
                }
            }
        }
        var verdict = await exabgp.ValidateAsync(config, cancellationToken).ConfigureAwait(false);
        if (verdict.IsValid && skeleton is not null) Remember(skeleton);
        return verdict;
    }

    private void Remember(string skeleton)
    {
        lock (_lock)
        {
            if (_accepted.Contains(skeleton)) return;
            _accepted.AddFirst(skeleton);
            while (_accepted.Count > remembered) _accepted.RemoveLast();
        }
    }

    public void Anticipate(string config) => _ = PrewarmAsync(config);

    /// <summary>
    /// Has exabgp judge a config we may need soon (the same one without any routes, say) in the background, so the
    /// first withdrawal of its shape does not pay for the check at the moment speed matters. A no-op when its shape
    /// is known or already being checked.
    /// </summary>
    public Task PrewarmAsync(string config)
    {
        var skeleton = Skeleton(config);
        if (skeleton is null) return Task.CompletedTask;
        lock (_lock)
        {
            if (_accepted.Contains(skeleton)) return Task.CompletedTask;
            if (_pending.TryGetValue(skeleton, out var running)) return running;
            var check = new Task<Task>(() => CheckAsync(config, skeleton));
            _pending[skeleton] = check.Unwrap();
            check.Start(TaskScheduler.Default);
            return _pending[skeleton];
        }
    }

    private async Task CheckAsync(string config, string skeleton)
    {
        try
        {
            var verdict = await exabgp.ValidateAsync(config, CancellationToken.None).ConfigureAwait(false);
            if (verdict.IsValid) Remember(skeleton);
        }
        catch (Exception e) when (e is MissingProgramException or IOException or InvalidOperationException)
        {
            // Only a head start: the real check runs again when the config is actually needed.
        }
        finally
        {
            lock (_lock) _pending.Remove(skeleton);
        }
    }

    /// <summary>
    /// The config with comments dropped and each run of route lines replaced by one token naming their families and
    /// attributes; null when some route line is not of the template's exact grammar (then only exabgp may judge).
    /// </summary>
    public static string? Skeleton(string config)
    {
        var skeleton = new StringBuilder(config.Length / 4);
        string? lastRoute = null;
        foreach (var line in config.Split('\n'))
        {
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith('#')) continue;
            if (!trimmed.StartsWith("route ", StringComparison.Ordinal))
            {
                skeleton.Append(line).Append('\n');
                lastRoute = null;
                continue;
            }
            var match = RouteLine().Match(line);
            if (!match.Success
                || !IPNetwork.TryParse(match.Groups["prefix"].ValueSpan, out var prefix)
                || !IPAddress.TryParse(match.Groups["nextHop"].ValueSpan, out var nextHop))
            {
                return null;
            }
            var token = $"route {Family(prefix.BaseAddress)} next-hop {Family(nextHop)}{match.Groups["attributes"].Value};";
            if (token == lastRoute) continue;
            skeleton.Append(token).Append('\n');
            lastRoute = token;
        }
        return skeleton.ToString();
    }

    private static string Family(IPAddress address) => address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "<ipv4>" : "<ipv6>";
}
