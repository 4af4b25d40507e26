using System.Security.Cryptography.X509Certificates;

namespace PortableLb.Kubernetes.Config;

/// <summary>What a request presents: a bearer token, a client certificate, or both.</summary>
public sealed record Credential(string? BearerToken, X509Certificate2? ClientCertificate)
{
    public static Credential None { get; } = new(null, null);
}

/// <summary>Where credentials come from. Asked before every request, so rotating sources stay current.</summary>
public interface ICredentialSource
{
    ValueTask<Credential> GetAsync(CancellationToken cancellationToken);
}

public sealed class StaticCredential(Credential credential) : ICredentialSource
{
    public ValueTask<Credential> GetAsync(CancellationToken cancellationToken) => ValueTask.FromResult(credential);
}

/// <summary>
/// A token in a file that the kubelet rotates (projected service-account tokens expire after an hour): re-read at
/// most once per refresh interval, so a rotated token is used within a minute.
/// </summary>
public sealed class TokenFileCredential(string path, TimeProvider time, TimeSpan? refresh = null) : ICredentialSource
{
    private readonly TimeSpan _refresh = refresh ?? TimeSpan.FromMinutes(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Credential? _current;
    private DateTimeOffset _readAt;

    public string Path { get; } = path;

    public async ValueTask<Credential> GetAsync(CancellationToken cancellationToken)
    {
        if (_current is { } fresh && time.GetUtcNow() - _readAt < _refresh) return fresh;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_current is { } raced && time.GetUtcNow() - _readAt < _refresh) return raced;
            var token = (await File.ReadAllTextAsync(Path, cancellationToken).ConfigureAwait(false)).Trim();
            if (token.Length == 0) throw new KubernetesConfigException($"{Path}: the token file is empty");
            (_current, _readAt) = (new Credential(token, null), time.GetUtcNow());
            return _current;
        }
        finally
        {
            _gate.Release();
        }
    }
}

/// <summary>A kubeconfig or in-cluster setting PortableLb cannot use, named by its field.</summary>
public sealed class KubernetesConfigException(string message, Exception? inner = null) : Exception(message, inner);
