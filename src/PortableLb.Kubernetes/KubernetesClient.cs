using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Authentication;
using k8s.Exceptions;
using k8s.Models;
using PortableLb.Kubernetes.Config;

namespace PortableLb.Kubernetes;

/// <summary>Options of a list or watch: selectors narrow what the server sends, paging keeps each response small.</summary>
public sealed record ListOptions(string? LabelSelector = null, string? FieldSelector = null, int? Limit = null);

/// <summary>
/// The API calls PortableLb makes (list, watch, get, create, replace, patch a status), on KubernetesClient.Aot's configuration: its
/// credentials (tokens, token files, exec plugins), its server-certificate check and its client certificates. The
/// package's Kubernetes class is not used: constructing it resolves JSON metadata for every type of the API, which
/// doubles the NativeAOT binary and added ~30 MiB to `run` (docs/benchmarks.md); it has no watch in its Aot build either.
/// </summary>
public sealed class KubernetesClient : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _http;
    private readonly ServiceClientCredentials? _credentials;

    // The package's exec-plugin provider refreshes without a lock: five informers starting together would run the
    // plugin five times. One request at a time asks for credentials; a cached token comes back at once.
    private readonly SemaphoreSlim _credentialsGate = new(1, 1);

    public KubernetesClient(ClusterConnection cluster)
    {
        Cluster = cluster;
        var configuration = cluster.Configuration;
        if (!Uri.TryCreate(configuration.Host, UriKind.Absolute, out var server))
        {
            throw new KubernetesConfigException($"{cluster.Source}: server \"{configuration.Host}\" is not a URL");
        }
        _credentials = k8s.Kubernetes.CreateCredentials(configuration);
        var clientCertificate = ClientCertificate(configuration, cluster.Source);
        var transport = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = configuration.SkipTlsVerify
                    ? (_, _, _, _) => true
                    : configuration.SslCaCerts is { Count: > 0 } authority
                        ? (sender, certificate, chain, errors) => k8s.Kubernetes.CertificateValidationCallBack(sender, authority, certificate!, chain!, errors)
                        : null,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            },
        };
        // Watches last minutes; each call sets its own deadline instead.
        _http = new HttpClient(transport) { BaseAddress = server.AbsoluteUri.EndsWith('/') ? server : new Uri(server.AbsoluteUri + "/"), Timeout = Timeout.InfiniteTimeSpan };
        // As the package does: the Host header names the server the certificate is checked against (tls-server-name).
        if (configuration.TlsServerName is { Length: > 0 } host) _http.DefaultRequestHeaders.Host = host;
    }

    public ClusterConnection Cluster { get; }

    public async Task<ObjectPage<T>> ListAsync<T>(ResourceType<T> type, string? @namespace, ListOptions options, string? continueToken, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var query = Query(options.LabelSelector, options.FieldSelector, ("limit", options.Limit?.ToString()), ("continue", continueToken));
        using var deadline = Deadline(cancellationToken);
        try
        {
            using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, type.Path(@namespace) + query), watch: false, deadline.Token).ConfigureAwait(false);
            var stream = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false)) return await type.ReadPage(stream, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"GET /{type.Path(@namespace)}: no answer within {RequestTimeout.TotalSeconds} s");
        }
    }

    /// <summary>Opens a watch; the caller reads the body line by line and disposes the response.</summary>
    public Task<HttpResponseMessage> WatchAsync<T>(ResourceType<T> type, string? @namespace, ListOptions options, string resourceVersion, int timeoutSeconds, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var query = Query(options.LabelSelector, options.FieldSelector,
            ("watch", "true"), ("resourceVersion", resourceVersion), ("allowWatchBookmarks", "true"), ("timeoutSeconds", timeoutSeconds.ToString()));
        return SendAsync(new HttpRequestMessage(HttpMethod.Get, type.Path(@namespace) + query), watch: true, cancellationToken);
    }

    public Task<T> CreateAsync<T>(ResourceType<T> type, string @namespace, T body, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        SendObjectAsync(type, HttpMethod.Post, type.Path(@namespace), Json(body, type, "application/json"), cancellationToken);

    /// <summary>One object, or null when it does not exist.</summary>
    public async Task<T?> GetAsync<T>(ResourceType<T> type, string @namespace, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        try
        {
            return await SendObjectAsync(type, HttpMethod.Get, type.Path(@namespace, name), null, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>PUT: replaces the object if its metadata.resourceVersion is still current; a 409 Conflict otherwise.</summary>
    public Task<T> ReplaceAsync<T>(ResourceType<T> type, string @namespace, T body, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        SendObjectAsync(type, HttpMethod.Put, type.Path(@namespace, body.Metadata.Name), Json(body, type, "application/json"), cancellationToken);

    /// <summary>A JSON merge patch (RFC 7386) of the status subresource: only `status` changes, and lists are replaced whole.</summary>
    public Task<T> PatchStatusAsync<T>(ResourceType<T> type, string @namespace, string name, string mergePatch, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        SendObjectAsync(type, HttpMethod.Patch, type.Path(@namespace, name, "status"),
            new StringContent(mergePatch, Encoding.UTF8, new MediaTypeHeaderValue("application/merge-patch+json")), cancellationToken);

    private static StringContent Json<T>(T body, ResourceType<T> type, string mediaType)
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        new(JsonSerializer.Serialize(body, type.Item), Encoding.UTF8, new MediaTypeHeaderValue(mediaType));

    private async Task<T> SendObjectAsync<T>(ResourceType<T> type, HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        using var deadline = Deadline(cancellationToken);
        try
        {
            using var response = await SendAsync(new HttpRequestMessage(method, path) { Content = content }, watch: false, deadline.Token).ConfigureAwait(false);
            var stream = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                return await JsonSerializer.DeserializeAsync(stream, type.Item, deadline.Token).ConfigureAwait(false)
                    ?? throw new JsonException($"{method} /{path}: empty body");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{method} /{path}: no answer within {RequestTimeout.TotalSeconds} s");
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _credentialsGate.Dispose();
    }

    private static CancellationTokenSource Deadline(CancellationToken cancellationToken)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(RequestTimeout);
        return deadline;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, bool watch, CancellationToken cancellationToken)
    {
        // An abandoned watch (idle, or cancelled) leaves a body that never ends; its connection cannot go back to the
        // pool, so say up front that it will not.
        if (watch) request.Headers.ConnectionClose = true;
        if (_credentials is not null)
        {
            await _credentialsGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await _credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (KubeConfigException e)
            {
                // An exec plugin that fails to renew a token may succeed on the next try: retried like a failed request.
                throw new HttpRequestException($"credentials for {_http.BaseAddress}: {e.Message}", e);
            }
            finally
            {
                _credentialsGate.Release();
            }
        }
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var retryAfter = response.Headers.RetryAfter switch
            {
                { Delta: { } delta } => delta,
                { Date: { } date } => date - DateTimeOffset.UtcNow,
                _ => (TimeSpan?)null,
            };
            throw new KubernetesApiException(response.StatusCode, StatusOf(body), retryAfter, $"{request.Method} /{request.RequestUri}");
        }
    }

    private static V1Status? StatusOf(string body)
    {
        try
        {
            return body.StartsWith('{') ? JsonSerializer.Deserialize(body, KubernetesJsonContext.Default.V1Status) : null;
        }
        catch (JsonException)
        {
            // A proxy's HTML error page, say: the status code alone has to do.
            return null;
        }
    }

    /// <summary>The configuration's client certificate: inline (base64 PEM, as kubeconfig and exec plugins give it) or files.</summary>
    private static X509Certificate2? ClientCertificate(KubernetesClientConfiguration configuration, string source)
    {
        try
        {
            if (configuration.ClientCertificateData is { Length: > 0 } certData && configuration.ClientCertificateKeyData is { Length: > 0 } keyData)
            {
                return X509Certificate2.CreateFromPem(Encoding.UTF8.GetString(Convert.FromBase64String(certData)), Encoding.UTF8.GetString(Convert.FromBase64String(keyData)));
            }
            if (configuration.ClientCertificateFilePath is { Length: > 0 } certFile && configuration.ClientKeyFilePath is { Length: > 0 } keyFile)
            {
                return X509Certificate2.CreateFromPemFile(certFile, keyFile);
            }
            return null;
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or FormatException or IOException)
        {
            throw new KubernetesConfigException($"{source}: the client certificate cannot be loaded: {e.Message}", e);
        }
    }

    private static string Query(string? labelSelector, string? fieldSelector, params (string Name, string? Value)[] more)
    {
        var parts = new List<(string Name, string? Value)> { ("labelSelector", labelSelector), ("fieldSelector", fieldSelector) };
        parts.AddRange(more);
        var present = parts.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return present.Count == 0 ? "" : "?" + string.Join("&", present);
    }
}
