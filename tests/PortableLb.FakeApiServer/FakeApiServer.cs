using System.Net;
using k8s;
using PortableLb.Kubernetes.Config;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PortableLb.Testing.FakeApi;

public sealed record FakeApiServerOptions
{
    /// <summary>Bearer tokens the server accepts; replace the set to simulate rotation.</summary>
    public IReadOnlyCollection<string> Tokens { get; init; } = ["test-token"];

    /// <summary>Serve HTTPS with this certificate (with its private key).</summary>
    public X509Certificate2? ServerCertificate { get; init; }

    /// <summary>With HTTPS: a client certificate issued by this CA authenticates a request instead of a token.</summary>
    public X509Certificate2? ClientCertificateAuthority { get; init; }
}

/// <summary>
/// An API server on 127.0.0.1 that speaks the real wire protocol for the resources PortableLb uses: JSON lists with
/// resourceVersion and continue, chunked watch streams of one event per line, bookmarks, 410 Gone for compacted
/// versions, label and field selectors, /status patches, 409 on conflicts and bearer-token authentication. Tests
/// drive it: change objects, and inject the faults a real control plane produces.
/// </summary>
public sealed class FakeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FakeStore _store = new();
    private readonly List<WatchStream> _watches = [];
    private readonly Lock _faultLock = new();
    private readonly Queue<(HttpStatusCode Code, TimeSpan? RetryAfter)> _failures = new();
    private volatile IReadOnlyCollection<string> _tokens;

    private FakeApiServer(WebApplication app, FakeApiServerOptions options)
    {
        _app = app;
        _tokens = options.Tokens;
        Options = options;
    }

    public FakeApiServerOptions Options { get; }
    public Uri Address { get; private set; } = null!;

    /// <summary>How a client reaches this server with a bearer token, as the package's configuration says it.</summary>
    public ClusterConnection Connection(string token = "test-token", string @namespace = "default") =>
        new(new KubernetesClientConfiguration { Host = Address.ToString(), AccessToken = token, Namespace = @namespace }, "fake API server");
    public FakeStore Store => _store;

    private readonly List<(DateTimeOffset At, string Request)> _requests = [];
    private readonly List<(DateTimeOffset At, HttpStatusCode Code)> _injected = [];

    /// <summary>When each injected failure was answered, in order.</summary>
    public IReadOnlyList<(DateTimeOffset At, HttpStatusCode Code)> InjectedFailures
    {
        get { lock (_injected) return _injected.ToList(); }
    }

    /// <summary>Requests received so far, in order, as "GET /api/v1/…?…" with their arrival time.</summary>
    public IReadOnlyList<(DateTimeOffset At, string Request)> Requests
    {
        get { lock (_requests) return _requests.ToList(); }
    }

    /// <summary>Whether a 410 is an HTTP status on the watch request or, as the real server does, an ERROR event in the stream.</summary>
    public bool GoneAsErrorEvent { get; set; } = true;

    /// <summary>Every watch expires at once, even from the version a list just returned: a server whose watch cache lags its lists.</summary>
    public bool WatchesExpireAtOnce { get; set; }

    public int ActiveWatches { get { lock (_watches) return _watches.Count; } }

    public static async Task<FakeApiServer> StartAsync(FakeApiServerOptions? options = null)
    {
        options ??= new FakeApiServerOptions();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (options.ServerCertificate is not { } certificate) return;
            listen.UseHttps(https =>
            {
                https.ServerCertificate = certificate;
                if (options.ClientCertificateAuthority is { } ca)
                {
                    https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                    https.ClientCertificateValidation = (client, _, _) => IssuedBy(client, ca);
                }
            });
        }));
        var app = builder.Build();
        var server = new FakeApiServer(app, options);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Address = new Uri(address);
        return server;
    }

    public void SetTokens(params string[] tokens) => _tokens = tokens;

    // ---- faults ----

    /// <summary>Compacts history: a watch from any version before now gets 410 Gone.</summary>
    public void ExpireResourceVersions() => _store.Compact();

    /// <summary>Closes every watch stream abruptly, as a restarting API server or a dropped connection would.</summary>
    public void DropWatches() => ForEachWatch(w => w.Abort());

    /// <summary>Keeps streams open but sends nothing on them (events are lost for those streams), like a dead proxy.</summary>
    public void StallWatches() => ForEachWatch(w => w.Stall());

    public void WriteBrokenLine() => ForEachWatch(w => w.Send("{\"type\":\"ADDED\",\"object\":{broken"));

    public void SendBookmarks() => ForEachWatch(w => w.SendBookmark(_store.ResourceVersion));

    /// <summary>The next N requests fail with this status (and Retry-After, if given).</summary>
    public void FailNext(int count, HttpStatusCode code, TimeSpan? retryAfter = null)
    {
        lock (_faultLock)
        {
            for (var i = 0; i < count; i++) _failures.Enqueue((code, retryAfter));
        }
    }

    public async ValueTask DisposeAsync()
    {
        DropWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void ForEachWatch(Action<WatchStream> action)
    {
        lock (_watches)
        {
            foreach (var watch in _watches) action(watch);
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        lock (_requests) _requests.Add((DateTimeOffset.UtcNow, $"{request.Method} {request.Path}{request.QueryString}"));

        if (!Authenticated(context))
        {
            await WriteStatusAsync(context.Response, HttpStatusCode.Unauthorized, "Unauthorized", "no valid bearer token or client certificate");
            return;
        }
        (HttpStatusCode Code, TimeSpan? RetryAfter)? failure = null;
        lock (_faultLock)
        {
            if (_failures.Count > 0) failure = _failures.Dequeue();
        }
        if (failure is { } injected)
        {
            lock (_injected) _injected.Add((DateTimeOffset.UtcNow, injected.Code));
            if (injected.RetryAfter is { } wait) context.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString();
            await WriteStatusAsync(context.Response, injected.Code, injected.Code.ToString(), "injected by the test");
            return;
        }
        if (ApiPath.TryParse(request.Path.Value ?? "", out var path) is false)
        {
            await WriteStatusAsync(context.Response, HttpStatusCode.NotFound, "NotFound", $"no route {request.Path}");
            return;
        }

        var query = request.Query;
        switch (request.Method)
        {
            case "GET" when path.Name is null && query["watch"] == "true":
                await WatchAsync(context, path);
                break;
            case "GET" when path.Name is null:
                await ListAsync(context, path);
                break;
            case "GET":
                await RespondAsync(context, _store.Get(path.Resource, path.Namespace, path.Name));
                break;
            case "POST" when path.Name is null:
                await RespondAsync(context, _store.Create(path.Resource, path.Namespace, await ReadBodyAsync(request)), HttpStatusCode.Created);
                break;
            case "PUT" when path.Name is not null:
                await RespondAsync(context, _store.Replace(path.Resource, path.Namespace, path.Name, await ReadBodyAsync(request)));
                break;
            case "PATCH" when path.Subresource == "status":
                if (request.ContentType?.StartsWith("application/merge-patch+json", StringComparison.Ordinal) != true)
                {
                    await WriteStatusAsync(context.Response, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", $"patch type {request.ContentType} is not supported here");
                    return;
                }
                await RespondAsync(context, _store.PatchStatus(path.Resource, path.Namespace, path.Name!, await ReadBodyAsync(request)));
                break;
            default:
                await WriteStatusAsync(context.Response, HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", $"{request.Method} {request.Path}");
                break;
        }
    }

    private bool Authenticated(HttpContext context)
    {
        if (Options.ClientCertificateAuthority is { } ca && context.Connection.ClientCertificate is { } client && IssuedBy(client, ca)) return true;
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) && _tokens.Contains(header["Bearer ".Length..]);
    }

    private async Task ListAsync(HttpContext context, ApiPath path)
    {
        var query = context.Request.Query;
        var selector = Selector.Parse(query["labelSelector"], query["fieldSelector"]);
        var limit = int.TryParse(query["limit"], out var l) && l > 0 ? l : int.MaxValue;
        var page = _store.List(path.Resource, path.Namespace, selector, limit, query["continue"]);
        await WriteJsonAsync(context.Response, HttpStatusCode.OK, page);
    }

    private async Task WatchAsync(HttpContext context, ApiPath path)
    {
        var query = context.Request.Query;
        var selector = Selector.Parse(query["labelSelector"], query["fieldSelector"]);
        var from = long.TryParse(query["resourceVersion"], out var rv) ? rv : 0;
        var timeout = int.TryParse(query["timeoutSeconds"], out var t) ? TimeSpan.FromSeconds(t) : TimeSpan.FromMinutes(30);
        var bookmarks = query["allowWatchBookmarks"] == "true";

        var channel = Channel.CreateUnbounded<string>();
        var stream = new WatchStream(context, channel, path, bookmarks);
        if (WatchesExpireAtOnce || !_store.Subscribe(path.Resource, path.Namespace, selector, from, stream, out var replay))
        {
            if (!GoneAsErrorEvent)
            {
                await WriteStatusAsync(context.Response, HttpStatusCode.Gone, "Expired", $"too old resource version: {from} ({_store.CompactedAt})");
                return;
            }
            replay = [FakeStore.EventLine("ERROR", StatusObject(HttpStatusCode.Gone, "Expired", $"too old resource version: {from} ({_store.CompactedAt})"))];
            stream.EndAfterReplay = true;
        }
        lock (_watches) _watches.Add(stream);
        try
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            await context.Response.StartAsync();
            await stream.RunAsync(replay, timeout);
        }
        finally
        {
            _store.Unsubscribe(stream);
            lock (_watches) _watches.Remove(stream);
        }
    }

    private static async Task<JsonObject> ReadBodyAsync(HttpRequest request) =>
        JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync()) as JsonObject ?? throw new InvalidOperationException("body is not an object");

    private static Task RespondAsync(HttpContext context, StoreResult result, HttpStatusCode success = HttpStatusCode.OK) => result.Error is { } error
        ? WriteStatusAsync(context.Response, error.Code, error.Reason, error.Message)
        : WriteJsonAsync(context.Response, success, result.Object!);

    internal static JsonObject StatusObject(HttpStatusCode code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = (int)code,
    };

    private static Task WriteStatusAsync(HttpResponse response, HttpStatusCode code, string reason, string message) =>
        WriteJsonAsync(response, code, StatusObject(code, reason, message));

    private static async Task WriteJsonAsync(HttpResponse response, HttpStatusCode code, JsonNode body)
    {
        response.StatusCode = (int)code;
        response.ContentType = "application/json";
        await response.WriteAsync(body.ToJsonString());
    }

    private static bool IssuedBy(X509Certificate2 client, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        return chain.Build(client);
    }
}
