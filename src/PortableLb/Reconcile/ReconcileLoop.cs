using Microsoft.Extensions.Logging;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Sources;
using PortableLb.Tuning;

namespace PortableLb.Reconcile;

public sealed record ReconcileLoopOptions(TimeSpan Debounce, TimeSpan InitialRetry, TimeSpan MaxRetry)
{
    public static ReconcileLoopOptions Default { get; } = new(TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    /// <summary>A pass even without a change, so files deleted or edited behind the controller's back come back.</summary>
    public TimeSpan Resync { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Level-based and coalescing: wait until the source is Ready, then reconcile from a fresh snapshot whenever the
/// source (or what this pod serves) says something changed, after a short debounce so a burst becomes one reconcile.
/// One worker, so at most one apply (and one reload per daemon) is ever in flight. A failed apply, a reload a
/// daemon has not confirmed, or a data plane step not done is retried with backoff even if nothing changes; a
/// rejected config waits for new input.
/// </summary>
public sealed partial class ReconcileLoop(
    IClusterSource source, ITuningProvider tuning, Reconciler reconciler, NodeAddresses node, IReadOnlyCollection<ServiceName>? only,
    ReconcileLoopOptions options, ReconcileStatus status, ILogger<ReconcileLoop> logger, TimeProvider? time = null,
    IServiceEventSink? events = null, ServingMonitor? serving = null, IServiceStatusSink? statuses = null, AnnouncementStory? story = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly OncePerChange _objectErrors = new();
    private readonly OncePerChange _tuningErrors = new();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await source.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        Log.SourceReady(logger);
        var retry = new Kubernetes.Backoff(options.InitialRetry, options.MaxRetry);
        var pendingRetry = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            var unsettled = await ReconcileOnceAsync(cancellationToken).ConfigureAwait(false);
            if (unsettled) pendingRetry = true;
            else
            {
                retry.Reset();
                pendingRetry = false;
            }

            var wait = pendingRetry ? retry.Next() : options.Resync;
            try
            {
                await WaitForChangeAsync(wait, cancellationToken).ConfigureAwait(false);
                // Let the rest of a burst arrive; the next snapshot then covers all of it.
                await Task.Delay(options.Debounce, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            await source.Changes.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, _time, deadline.Token);
        var change = source.Changes.WaitAsync(deadline.Token);
        await Task.WhenAny(delay, change).ConfigureAwait(false);
        await deadline.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <returns>True when the pass left something to retry without new input: a failed apply, an unconfirmed reload.</returns>
    private async Task<bool> ReconcileOnceAsync(CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        source.Changes.Reset();
        var snapshot = source.Snapshot();
        var (settings, tuningErrors) = tuning.Current(snapshot);
        foreach (var error in _tuningErrors.New(tuningErrors.Select(e => e.ToString()))) Log.TuningError(logger, error);
        try
        {
            var outcome = await reconciler.ReconcileAsync(snapshot, settings, node, only, serving?.Current ?? ServingFacts.Ungated, cancellationToken).ConfigureAwait(false);
            status.Record(outcome, _time.GetElapsedTime(started), _time.GetUtcNow());
            // A tuning or node error leaves no build to speak for the Services: their status stays as it is.
            if (outcome.Result != ReconcileResult.ConfigError) statuses?.Offer(ServiceStatusPlanner.Plan(snapshot, outcome.Build, settings, node, only));
            if (outcome.Writes.GetValueOrDefault(ConfigFiles.Ipvs) == WriteOutcome.Written) serving?.Expedite();
            switch (outcome.Result)
            {
                case ReconcileResult.Applied:
                    Log.Applied(logger, outcome.Build.State.VirtualServers.Count, outcome.Build.State.Announcements.Count,
                        string.Join(", ", outcome.Writes.Select(w => $"{w.Key.Name} {w.Value}")),
                        string.Join(", ", outcome.Reloads.Select(r => $"{r.Daemon}:{r.Result}")), outcome.Phases.ToString());
                    break;
                case ReconcileResult.Rejected or ReconcileResult.ConfigError:
                    foreach (var failure in outcome.Failures) Log.Rejected(logger, failure);
                    break;
            }
            var newErrors = _objectErrors.New(outcome.Build.Errors.Select(e => e.ToString()));
            foreach (var error in newErrors) Log.ObjectRejected(logger, error);
            await ReportAsync(outcome, newErrors, cancellationToken).ConfigureAwait(false);
            await TellAsync(outcome, snapshot, cancellationToken).ConfigureAwait(false);
            foreach (var warning in outcome.DataPlane?.Warnings ?? []) Log.DataPlane(logger, warning);
            foreach (var daemon in outcome.PendingReloads) Log.ReloadPending(logger, daemon.ToString());
            return outcome.Unsettled;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Common.MissingProgramException or TimeoutException or InvalidOperationException or Rendering.TemplateException)
        {
            status.RecordFailure(e.Message, _time.GetUtcNow());
            Log.ApplyFailed(logger, e.Message);
            return true;
        }
    }

    /// <summary>
    /// Each Service with a new error gets its errors as an Event (once per change, like the log); a rejected candidate
    /// is reported on every Service it held.
    /// </summary>
    private async Task ReportAsync(ReconcileOutcome outcome, IReadOnlyList<string> newErrors, CancellationToken cancellationToken)
    {
        if (events is null) return;
        var newSet = newErrors.ToHashSet(StringComparer.Ordinal);
        var fresh = outcome.Build.Errors.Where(e => e.Object.Kind == "Service" && newSet.Contains(e.ToString()));
        foreach (var group in fresh.GroupBy(e => new ServiceName(e.Object.Namespace, e.Object.Name)))
        {
            await events.ReportAsync(group.Key, "InvalidService", string.Join("; ", group.Select(e => $"{e.Field}: {e.Message}")), cancellationToken).ConfigureAwait(false);
        }
        if (outcome.Result != ReconcileResult.Rejected) return;
        foreach (var service in outcome.Build.Services.Select(s => s.Name))
        {
            await events.ReportAsync(service, "ConfigRejected", "the daemons rejected the new config; the last good one stays live: " + string.Join("; ", outcome.Failures), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Announced and Withdrawn, once exabgp runs the applied config (BGP on, its load confirmed).</summary>
    private async Task TellAsync(ReconcileOutcome outcome, ClusterSnapshot snapshot, CancellationToken cancellationToken)
    {
        if (events is null || story is null) return;
        if (outcome is not { Result: ReconcileResult.Applied, Served: { Bgp: not null } live } || outcome.PendingReloads.Contains(Daemon.Exabgp)) return;
        var accepted = outcome.Build.Services.Select(s => s.Name).ToHashSet();
        var existing = snapshot.Services.Select(s => new ServiceName(s.Metadata?.NamespaceProperty ?? "", s.Metadata?.Name ?? "")).ToHashSet();
        foreach (var told in story.Tell(live, accepted, existing))
        {
            await events.ReportAsync(told.Service, told.Reason, told.Note, cancellationToken, warning: false).ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.SourcesReady, Level = LogLevel.Information, Message = "Sources are ready; reconciling")]
        public static partial void SourceReady(ILogger logger);

        [LoggerMessage(EventId = LogEvents.Applied, Level = LogLevel.Information, Message = "Applied {VirtualServers} virtual servers and {Announcements} announcements ({Files}; reloads: {Reloads}; {Phases})")]
        public static partial void Applied(ILogger logger, int virtualServers, int announcements, string files, string reloads, string phases);

        [LoggerMessage(EventId = LogEvents.ConfigRejected, Level = LogLevel.Error, Message = "Config rejected; the last good files stay live: {Failure}")]
        public static partial void Rejected(ILogger logger, string failure);

        [LoggerMessage(EventId = LogEvents.ObjectRejected, Level = LogLevel.Warning, Message = "Object rejected: {Error}")]
        public static partial void ObjectRejected(ILogger logger, string error);

        [LoggerMessage(EventId = LogEvents.TuningError, Level = LogLevel.Error, Message = "Tuning: {Error}")]
        public static partial void TuningError(ILogger logger, string error);

        [LoggerMessage(EventId = LogEvents.ApplyFailed, Level = LogLevel.Error, Message = "Apply failed; retrying with backoff: {Error}")]
        public static partial void ApplyFailed(ILogger logger, string error);

        [LoggerMessage(EventId = LogEvents.ReloadPending, Level = LogLevel.Warning, Message = "{Daemon} has not confirmed loading its new config; signalling it again with backoff")]
        public static partial void ReloadPending(ILogger logger, string daemon);

        [LoggerMessage(EventId = LogEvents.DataPlaneProblem, Level = LogLevel.Warning, Message = "Data plane: {Warning}")]
        public static partial void DataPlane(ILogger logger, string warning);
    }
}
