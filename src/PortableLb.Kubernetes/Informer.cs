using System.Collections.Immutable;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using k8s;
using k8s.Models;

namespace PortableLb.Kubernetes;

public sealed record InformerOptions
{
    public string? Namespace { get; init; }
    public ListOptions Selectors { get; init; } = new();
    public int PageSize { get; init; } = 500;

    /// <summary>The server ends each watch after this long (with jitter from us); then we watch again from where we were.</summary>
    public int WatchTimeoutSeconds { get; init; } = 300;

    /// <summary>
    /// Nothing, not even a bookmark, for this long means the stream is stalled (a silently dead connection, a stuck
    /// proxy): reconnect. Bookmarks arrive about once a minute, so the default leaves room for one to be missed.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(150);

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>Since when, and why, an informer's listing or watching has been failing.</summary>
public sealed record InformerFailure(DateTimeOffset Since, string Error, bool AccessDenied);

/// <summary>
/// Keeps an in-memory copy of one resource type in sync with the API server: list (paged), then watch from the list's
/// resourceVersion; bookmarks move the version on; 410 Gone and broken streams relist; errors back off. Readers take
/// Items, an immutable snapshot; Changed only says "look again" (level-based: no event is ever replayed to them).
/// </summary>
public sealed partial class Informer<T>(KubernetesClient client, ResourceType<T> type, InformerOptions options, ILogger logger, TimeProvider? time = null)
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ImmutableDictionary<(string Namespace, string Name), T> _items = ImmutableDictionary<(string, string), T>.Empty;
    private string _resourceVersion = "";
    private volatile InformerFailure? _failure;
    private bool _progressSinceList;

    /// <summary>Completes after the first full list: before that, an empty Items means "not known yet", never "nothing".</summary>
    public Task Ready => _ready.Task;

    /// <summary>The objects as of now: an immutable snapshot, so later changes do not show in it.</summary>
    public IEnumerable<T> Items => _items.Values;

    public string ResourceVersion => _resourceVersion;

    public event Action? Changed;

    /// <summary>Null while listing and watching work; otherwise since when they fail, and the last error.</summary>
    public InformerFailure? CurrentFailure => _failure;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(options.InitialBackoff, options.MaxBackoff);
        var mustList = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (mustList)
                {
                    await ListAsync(cancellationToken).ConfigureAwait(false);
                    // The backoff is reset by the watch's first event, not here: a list that succeeds only for its
                    // watch to fail at once must not start every retry from the shortest wait.
                    mustList = false;
                }
                mustList = await WatchAsync(backoff, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (KubernetesApiException e) when (e.IsGone)
            {
                Log.Expired(logger, type.Plural, _resourceVersion);
                mustList = true;
                // An expiry right after a list, with nothing watched in between, repeats as fast as lists return
                // (a server whose watch cache lags its lists): back off then. A normal expiry relists at once.
                if (!_progressSinceList) await Task.Delay(backoff.Next(), _time, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KubernetesApiException or HttpRequestException or IOException or TimeoutException or JsonException)
            {
                var retryAfter = (e as KubernetesApiException)?.RetryAfter;
                var wait = backoff.Next(retryAfter);
                Log.Failed(logger, type.Plural, wait.TotalMilliseconds, e.Message);
                Failed(e);
                // A list that failed halfway, or a stream whose position is unknown, is only trusted again after a list.
                mustList |= e is JsonException;
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var fresh = ImmutableDictionary.CreateBuilder<(string, string), T>();
        string? continueToken = null;
        string resourceVersion;
        do
        {
            var page = await client.ListAsync(type, options.Namespace, options.Selectors with { Limit = options.PageSize }, continueToken, cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items) fresh[KeyOf(item)] = item;
            continueToken = page.Continue;
            resourceVersion = page.ResourceVersion;
        }
        while (continueToken is not null);

        // Objects that vanished while we were not watching are dropped here: the synthetic deletes.
        var before = _items;
        var deleted = before.Keys.Count(k => !fresh.ContainsKey(k));
        _items = fresh.ToImmutable();
        _resourceVersion = resourceVersion;
        _progressSinceList = false;
        _failure = null;
        Log.Listed(logger, type.Plural, _items.Count, resourceVersion, deleted);
        _ready.TrySetResult();
        Changed?.Invoke();
    }

    /// <returns>True when the informer must list again before it can watch.</returns>
    private async Task<bool> WatchAsync(Backoff backoff, CancellationToken cancellationToken)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(options.IdleTimeout);
        HttpResponseMessage response;
        try
        {
            response = await client.WatchAsync(type, options.Namespace, options.Selectors, _resourceVersion, options.WatchTimeoutSeconds, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        _failure = null;
        using (response)
        {
            var stream = await response.Content.ReadAsStreamAsync(idle.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            while (true)
            {
                string? line;
                try
                {
                    line = await reader.ReadLineAsync(idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    Log.Idle(logger, type.Plural, options.IdleTimeout.TotalSeconds);
                    return false;
                }
                if (line is null)
                {
                    // The server closed the watch (its timeout, or a restart): resume from where we are.
                    return false;
                }
                if (line.Length == 0) continue;
                idle.CancelAfter(options.IdleTimeout);

                WatchEvent watchEvent;
                try
                {
                    watchEvent = JsonSerializer.Deserialize(line, KubernetesJsonContext.Default.WatchEvent)
                        ?? throw new JsonException("null event");
                }
                catch (JsonException e)
                {
                    Log.BadLine(logger, type.Plural, e.Message);
                    return true;
                }
                if (Apply(watchEvent)) return true;
                backoff.Reset();
            }
        }
    }

    /// <returns>True when the event means the watch cannot go on (an expired resourceVersion).</returns>
    private bool Apply(WatchEvent watchEvent)
    {
        switch (watchEvent.Type)
        {
            case "ADDED" or "MODIFIED":
                var item = watchEvent.Object.Deserialize(type.Item) ?? throw new JsonException("event without object");
                _items = _items.SetItem(KeyOf(item), item);
                Advance(item.Metadata?.ResourceVersion);
                Changed?.Invoke();
                return false;
            case "DELETED":
                var gone = watchEvent.Object.Deserialize(type.Item) ?? throw new JsonException("event without object");
                _items = _items.Remove(KeyOf(gone));
                Advance(gone.Metadata?.ResourceVersion);
                Changed?.Invoke();
                return false;
            case "BOOKMARK":
                Advance(watchEvent.Object.TryGetProperty("metadata", out var metadata) && metadata.TryGetProperty("resourceVersion", out var rv) ? rv.GetString() : null);
                return false;
            case "ERROR":
                var status = watchEvent.Object.Deserialize(KubernetesJsonContext.Default.V1Status);
                if (status?.Code == (int)HttpStatusCode.Gone) throw new KubernetesApiException(HttpStatusCode.Gone, status, null, $"watch {type.Plural}");
                throw new KubernetesApiException((HttpStatusCode)(status?.Code ?? 500), status, null, $"watch {type.Plural}");
            default:
                throw new JsonException($"unknown watch event type \"{watchEvent.Type}\"");
        }
    }

    private void Advance(string? resourceVersion)
    {
        _progressSinceList = true;
        if (!string.IsNullOrEmpty(resourceVersion)) _resourceVersion = resourceVersion;
    }

    private void Failed(Exception error)
    {
        var denied = error is KubernetesApiException { StatusCode: HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden };
        // Lost credentials or RBAC do not heal by retrying: say so loudly, once per outage.
        if (denied && _failure is not { AccessDenied: true }) Log.AccessLost(logger, type.Plural, error.Message);
        _failure = new InformerFailure(_failure?.Since ?? _time.GetUtcNow(), error.Message, denied);
    }

    private static (string, string) KeyOf(T item) => (item.Metadata?.NamespaceProperty ?? "", item.Metadata?.Name ?? "");

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.Listed, Level = LogLevel.Information, Message = "Listed {Resource}: {Count} objects at resourceVersion {ResourceVersion}, {Deleted} gone since the last list")]
        public static partial void Listed(ILogger logger, string resource, int count, string resourceVersion, int deleted);

        [LoggerMessage(EventId = LogEvents.WatchExpired, Level = LogLevel.Information, Message = "Watch of {Resource} expired at resourceVersion {ResourceVersion} (410 Gone); listing again")]
        public static partial void Expired(ILogger logger, string resource, string resourceVersion);

        [LoggerMessage(EventId = LogEvents.ListWatchFailed, Level = LogLevel.Warning, Message = "List/watch of {Resource} failed; retrying in {DelayMs:0} ms: {Error}")]
        public static partial void Failed(ILogger logger, string resource, double delayMs, string error);

        [LoggerMessage(EventId = LogEvents.ApiAccessLost, Level = LogLevel.Error, Message = "The API server refuses access to {Resource} ({Error}); the last known objects stay in use until access returns")]
        public static partial void AccessLost(ILogger logger, string resource, string error);

        [LoggerMessage(EventId = LogEvents.WatchIdle, Level = LogLevel.Warning, Message = "Watch of {Resource} sent nothing for {Seconds} s; reconnecting")]
        public static partial void Idle(ILogger logger, string resource, double seconds);

        [LoggerMessage(EventId = LogEvents.WatchBadLine, Level = LogLevel.Warning, Message = "Watch of {Resource} sent a malformed line ({Error}); listing again")]
        public static partial void BadLine(ILogger logger, string resource, string error);
    }
}
