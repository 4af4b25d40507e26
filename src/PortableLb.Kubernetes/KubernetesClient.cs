using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PortableLb.Kubernetes.Config;
using PortableLb.Kubernetes.Models;

namespace PortableLb.Kubernetes;

/// <summary>Options of a list or watch: selectors narrow what the server sends, paging keeps each response small.</summary>
public sealed record ListOptions(string? LabelSelector = null, string? FieldSelector = null, int? Limit = null);

/// <summary>
/// The few API calls PortableLb makes, over one HttpClient: list (paged), watch (a stream of JSON lines) and create (Events).
/// </summary>
public sealed class KubernetesClient : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _http;
    private readonly AuthenticatingHandler _auth;

    public KubernetesClient(ClusterEndpoint endpoint)
    {
        Endpoint = endpoint;
        var transport = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            // Rotated client certificates only reach the server on a new connection.
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) => Trusts(certificate, errors),
                LocalCertificateSelectionCallback = (_, _, _, _, _) => _auth!.LastCredential?.ClientCertificate!,
            },
        };
        _auth = new AuthenticatingHandler(endpoint.Credentials) { InnerHandler = transport };
        // Watches last minutes; each call sets its own deadline instead.
        _http = new HttpClient(_auth) { BaseAddress = endpoint.Server, Timeout = Timeout.InfiniteTimeSpan };
    }

    public ClusterEndpoint Endpoint { get; }

    public async Task<ObjectList<T>> ListAsync<T>(ResourceType<T> type, string? @namespace, ListOptions options, string? continueToken, CancellationToken cancellationToken)
        where T : class, IKubernetesObject
    {
        var query = Query(options.LabelSelector, options.FieldSelector, ("limit", options.Limit?.ToString()), ("continue", continueToken));
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, type.Path(@namespace) + query), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, type.List, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens a watch; the caller reads the body line by line and disposes the response.</summary>
    public async Task<HttpResponseMessage> WatchAsync<T>(ResourceType<T> type, string? @namespace, ListOptions options, string resourceVersion, int timeoutSeconds, CancellationToken cancellationToken)
        where T : class, IKubernetesObject
    {
        var query = Query(options.LabelSelector, options.FieldSelector,
            ("watch", "true"), ("resourceVersion", resourceVersion), ("allowWatchBookmarks", "true"), ("timeoutSeconds", timeoutSeconds.ToString()));
        var request = new HttpRequestMessage(HttpMethod.Get, type.Path(@namespace) + query);
        // An abandoned watch (idle, or cancelled) leaves a body that never ends; its connection cannot go back to the
        // pool, so say up front that it will not.
        request.Headers.ConnectionClose = true;
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            using (response) throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }
        return response;
    }

    public async Task<T> CreateAsync<T>(ResourceType<T> type, string? @namespace, T obj, CancellationToken cancellationToken)
        where T : class, IKubernetesObject
    {
        var request = new HttpRequestMessage(HttpMethod.Post, type.Path(@namespace)) { Content = Json(obj, type.Item, "application/json") };
        using var response = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, type.Item, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(RequestTimeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{request.Method} {request.RequestUri}: no answer within {RequestTimeout.TotalSeconds} s");
        }
        if (response.IsSuccessStatusCode) return response;
        using (response) throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            return await JsonSerializer.DeserializeAsync(stream, type, cancellationToken).ConfigureAwait(false)
                ?? throw new JsonException($"{response.RequestMessage?.RequestUri}: empty body");
        }
    }

    private static async Task<KubernetesApiException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        Status? status = null;
        try
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (body.StartsWith('{')) status = JsonSerializer.Deserialize(body, KubernetesJsonContext.Default.Status);
        }
        catch (JsonException)
        {
            // A proxy's HTML error page, say: the status code alone has to do.
        }
        var retryAfter = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - DateTimeOffset.UtcNow,
            _ => (TimeSpan?)null,
        };
        var request = $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}";
        return new KubernetesApiException(response.StatusCode, status, retryAfter, request);
    }

    private static StringContent Json<T>(T obj, JsonTypeInfo<T> type, string mediaType) =>
        new(JsonSerializer.Serialize(obj, type), Encoding.UTF8, new MediaTypeHeaderValue(mediaType));

    private static string Query(string? labelSelector, string? fieldSelector, params (string Name, string? Value)[] more)
    {
        var parts = new List<(string Name, string? Value)> { ("labelSelector", labelSelector), ("fieldSelector", fieldSelector) };
        parts.AddRange(more);
        var present = parts.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return present.Count == 0 ? "" : "?" + string.Join("&", present);
    }

    private bool Trusts(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (Endpoint.InsecureSkipTlsVerify) return true;
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || certificate is null) return false;
        if (Endpoint.CertificateAuthority is not { Count: > 0 } authority) return errors == SslPolicyErrors.None;
        // The cluster's own CA is the only root: the system store must not vouch for an API server.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(authority);
        return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    /// <summary>Puts the current bearer token on every request; the credential source decides when to refresh it.</summary>
    private sealed class AuthenticatingHandler(ICredentialSource credentials) : DelegatingHandler
    {
        public Credential? LastCredential { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var credential = await credentials.GetAsync(cancellationToken).ConfigureAwait(false);
            LastCredential = credential;
            if (credential.BearerToken is { } token) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }
}
