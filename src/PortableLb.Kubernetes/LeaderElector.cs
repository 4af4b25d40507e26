using k8s.Models;
using Microsoft.Extensions.Logging;

namespace PortableLb.Kubernetes;

/// <summary>client-go's leader election settings; the defaults are its own (lease 15 s, renew deadline 10 s, retry 2 s).</summary>
public sealed record LeaderElectionOptions(string Namespace, string LeaseName, string Identity)
{
    /// <summary>Why these settings cannot be safe, or null. The Lease records its duration in whole seconds.</summary>
    public string? Problem() =>
        LeaseDuration.Ticks % TimeSpan.TicksPerSecond != 0 || LeaseDuration <= TimeSpan.Zero ? $"the lease duration ({LeaseDuration.TotalSeconds} s) must be a whole number of seconds"
        : RenewDeadline >= LeaseDuration ? $"the renew deadline ({RenewDeadline.TotalSeconds} s) must be shorter than the lease duration ({LeaseDuration.TotalSeconds} s)"
        : RetryPeriod * JitterFactor >= RenewDeadline ? $"the retry period ({RetryPeriod.TotalSeconds} s, with jitter) must be shorter than the renew deadline ({RenewDeadline.TotalSeconds} s)"
        : null;

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A candidate waits up to this fraction of RetryPeriod more, so candidates do not retry in lockstep.</summary>
    public double JitterFactor { get; init; } = 1.2;
}

/// <summary>One leader's hold of the Lease: who, and which transition of it (leaseTransitions) this is.</summary>
public sealed record LeaderTerm(string Identity, int Transition);

/// <summary>
/// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics. The Lease is only a record;
/// safety comes from optimistic concurrency (a replace carries the resourceVersion read, and loses with 409 to
/// anyone who wrote in between) and from time measured on this pod's own clock, never compared with another's:
/// a candidate takes a Lease over only after seeing its record unchanged for the whole lease duration, and a
/// leader stops leading once RenewDeadline has passed since it sent its last renewal that succeeded. RenewDeadline
/// is shorter than the lease duration, so a leader that cannot renew has stopped before anyone may take over, and
/// two pods never lead in the same term.
/// </summary>
public sealed partial class LeaderElector
{
    private readonly KubernetesClient client;
    private readonly LeaderElectionOptions options;
    private readonly ILogger logger;
    private readonly TimeProvider _time;
    private readonly Random _random = new();

    // The record as last seen, and when (this pod's clock) it was first seen in that form.
    private V1LeaseSpec? _observed;
    private long _observedAt;

    // Leading until this timestamp (this pod's clock): RenewDeadline after the start of the last renewal that succeeded.
    private long _leadingUntil;
    private volatile LeaderTerm? _term;

    public LeaderElector(KubernetesClient client, LeaderElectionOptions options, ILogger logger, TimeProvider? time = null)
    {
        if (options.Problem() is { } problem) throw new ArgumentException(problem, nameof(options));
        (this.client, this.options, this.logger, _time) = (client, options, logger, time ?? TimeProvider.System);
    }

    public string Identity => options.Identity;

    /// <summary>The term this pod leads now, or null. Callers ask right before each write; it turns null by itself when renewals stop succeeding.</summary>
    public LeaderTerm? Current => _term is { } term && _time.GetTimestamp() < Interlocked.Read(ref _leadingUntil) ? term : null;

    /// <summary>Set when this pod starts or stops leading.</summary>
    public event Action? LeadershipChanged;

    /// <summary>Runs for good: candidate until elected, leader until a renewal deadline passes, then candidate again. Releases the Lease when cancelled while leading.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await AcquireAsync(cancellationToken).ConfigureAwait(false);
                await RenewAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (_term is not null) await ReleaseAsync().ConfigureAwait(false);
        }
    }

    private async Task AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var attempt = _time.GetTimestamp();
            if (await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false) is { } term)
            {
                StartLeading(term, attempt);
                return;
            }
            var wait = options.RetryPeriod + TimeSpan.FromMilliseconds(_random.NextDouble() * options.JitterFactor * options.RetryPeriod.TotalMilliseconds);
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RenewAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(options.RetryPeriod, _time, cancellationToken).ConfigureAwait(false);
            if (Current is null)
            {
                StopLeading($"no renewal succeeded within {options.RenewDeadline.TotalSeconds} s");
                return;
            }
            var attempt = _time.GetTimestamp();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // An attempt that outlives the leadership it would extend is worthless: it cannot make this pod lead again.
            deadline.CancelAfter(TimeSpan.FromTicks(Math.Max(1, (Interlocked.Read(ref _leadingUntil) - attempt) * TimeSpan.TicksPerSecond / _time.TimestampFrequency)));
            LeaderTerm? renewed;
            try
            {
                renewed = await TryAcquireOrRenewAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                renewed = null;
            }
            if (renewed is null) continue; // Current says when to give up
            if (renewed != _term)
            {
                StopLeading("the Lease changed hands");
                return;
            }
            Interlocked.Exchange(ref _leadingUntil, attempt + (long)(options.RenewDeadline.TotalSeconds * _time.TimestampFrequency));
        }
    }

    /// <summary>client-go's tryAcquireOrRenew: the term this pod then holds, or null (held by another, lost a race, or the API failed).</summary>
    private async Task<LeaderTerm?> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        var nowUtc = _time.GetUtcNow().UtcDateTime;
        try
        {
            var lease = await client.GetAsync(Resources.Leases, options.Namespace, options.LeaseName, cancellationToken).ConfigureAwait(false);
            if (lease is null)
            {
                var created = await client.CreateAsync(Resources.Leases, options.Namespace, new V1Lease
                {
                    ApiVersion = "coordination.k8s.io/v1",
                    Kind = V1Lease.KubeKind,
                    Metadata = new V1ObjectMeta { Name = options.LeaseName, NamespaceProperty = options.Namespace },
                    Spec = Record(nowUtc, nowUtc, 0),
                }, cancellationToken).ConfigureAwait(false);
                Observe(created.Spec);
                return new LeaderTerm(options.Identity, 0);
            }

            var record = lease.Spec ?? new V1LeaseSpec();
            Observe(record);
            var holder = record.HolderIdentity ?? "";
            var ours = holder == options.Identity;
            var duration = TimeSpan.FromSeconds(record.LeaseDurationSeconds ?? (int)options.LeaseDuration.TotalSeconds);
            if (!ours && holder.Length > 0 && _time.GetElapsedTime(_observedAt) < duration) return null;

            var transitions = record.LeaseTransitions ?? 0;
            lease.Spec = ours ? Record(record.AcquireTime ?? nowUtc, nowUtc, transitions) : Record(nowUtc, nowUtc, transitions + 1);
            var replaced = await client.ReplaceAsync(Resources.Leases, options.Namespace, lease, cancellationToken).ConfigureAwait(false);
            Observe(replaced.Spec);
            return new LeaderTerm(options.Identity, lease.Spec.LeaseTransitions ?? 0);
        }
        catch (KubernetesApiException e) when (e.IsConflict)
        {
            return null; // another candidate wrote first
        }
        catch (Exception e) when (e is KubernetesApiException or HttpRequestException or TimeoutException or System.Text.Json.JsonException)
        {
            Log.LeaseFailed(logger, options.Namespace, options.LeaseName, e.Message);
            return null;
        }
    }

    private V1LeaseSpec Record(DateTime acquired, DateTime renewed, int transitions) => new()
    {
        HolderIdentity = options.Identity,
        LeaseDurationSeconds = (int)options.LeaseDuration.TotalSeconds,
        AcquireTime = acquired,
        RenewTime = renewed,
        LeaseTransitions = transitions,
    };

    private void Observe(V1LeaseSpec? record)
    {
        record ??= new V1LeaseSpec();
        if (_observed is { } seen && seen.HolderIdentity == record.HolderIdentity && seen.RenewTime == record.RenewTime
            && seen.AcquireTime == record.AcquireTime && seen.LeaseTransitions == record.LeaseTransitions && seen.LeaseDurationSeconds == record.LeaseDurationSeconds)
        {
            return;
        }
        (_observed, _observedAt) = (record, _time.GetTimestamp());
    }

    private void StartLeading(LeaderTerm term, long attempt)
    {
        Interlocked.Exchange(ref _leadingUntil, attempt + (long)(options.RenewDeadline.TotalSeconds * _time.TimestampFrequency));
        _term = term;
        Log.Leading(logger, options.Identity, options.Namespace, options.LeaseName, term.Transition);
        LeadershipChanged?.Invoke();
    }

    private void StopLeading(string why)
    {
        Interlocked.Exchange(ref _leadingUntil, 0);
        _term = null;
        Log.NotLeading(logger, options.Identity, why);
        LeadershipChanged?.Invoke();
    }

    /// <summary>client-go's ReleaseOnCancel: an empty holder lets the next candidate take over at once rather than after the lease duration.</summary>
    private async Task ReleaseAsync()
    {
        var term = _term;
        StopLeading("shutting down");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            var lease = await client.GetAsync(Resources.Leases, options.Namespace, options.LeaseName, deadline.Token).ConfigureAwait(false);
            if (lease?.Spec?.HolderIdentity != options.Identity || lease.Spec.LeaseTransitions != term?.Transition) return;
            var now = _time.GetUtcNow().UtcDateTime;
            lease.Spec = new V1LeaseSpec { HolderIdentity = "", LeaseDurationSeconds = 1, AcquireTime = now, RenewTime = now, LeaseTransitions = term!.Transition };
            await client.ReplaceAsync(Resources.Leases, options.Namespace, lease, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KubernetesApiException or HttpRequestException or TimeoutException or OperationCanceledException or System.Text.Json.JsonException)
        {
            Log.LeaseFailed(logger, options.Namespace, options.LeaseName, "release: " + e.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.LeadershipAcquired, Level = LogLevel.Information, Message = "{Identity} leads (Lease {Namespace}/{Lease}, transition {Transition}): it writes Service status")]
        public static partial void Leading(ILogger logger, string identity, string @namespace, string lease, int transition);

        [LoggerMessage(EventId = LogEvents.LeadershipLost, Level = LogLevel.Warning, Message = "{Identity} no longer leads: {Why}")]
        public static partial void NotLeading(ILogger logger, string identity, string why);

        [LoggerMessage(EventId = LogEvents.LeaseFailed, Level = LogLevel.Warning, Message = "Lease {Namespace}/{Lease}: {Error}")]
        public static partial void LeaseFailed(ILogger logger, string @namespace, string lease, string error);
    }
}
