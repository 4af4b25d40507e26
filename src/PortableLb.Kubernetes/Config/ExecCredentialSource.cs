using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using PortableLb.Kubernetes.Models;

namespace PortableLb.Kubernetes.Config;

/// <summary>
/// A kubeconfig `exec` plugin (client.authentication.k8s.io/v1): run the command, read the ExecCredential it prints,
/// and reuse it until its expirationTimestamp. Without an expiry the credential is kept for the process lifetime,
/// as kubectl does.
/// </summary>
public sealed class ExecCredentialSource(
    string command, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, string apiVersion, TimeProvider time) : ICredentialSource
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Credential? _current;
    private DateTimeOffset? _expires;

    public int Runs { get; private set; }

    public async ValueTask<Credential> GetAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Renew a little early so a request never leaves with a credential that expires in flight.
            if (_current is { } cached && (_expires is null || _expires.Value - TimeSpan.FromSeconds(10) > time.GetUtcNow())) return cached;
            var status = await RunAsync(cancellationToken).ConfigureAwait(false);
            X509Certificate2? certificate = null;
            if (status.ClientCertificateData is { } certPem)
            {
                if (status.ClientKeyData is not { } keyPem) throw new KubernetesConfigException($"exec plugin {command}: status.clientCertificateData without status.clientKeyData");
                certificate = X509Certificate2.CreateFromPem(certPem, keyPem);
            }
            if (status.Token is null && certificate is null) throw new KubernetesConfigException($"exec plugin {command}: the ExecCredential has neither status.token nor a client certificate");
            (_current, _expires) = (new Credential(status.Token, certificate), status.ExpirationTimestamp);
            return _current;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<ExecCredentialStatus> RunAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        start.Environment["KUBERNETES_EXEC_INFO"] = $$$"""{"apiVersion":"{{{apiVersion}}}","kind":"ExecCredential","spec":{"interactive":false}}""";

        Runs++;
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new KubernetesConfigException($"exec plugin {command} cannot be started: {e.Message}", e);
        }
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new KubernetesConfigException($"exec plugin {command} did not finish within {Timeout.TotalSeconds} s");
        }
        if (process.ExitCode != 0)
        {
            throw new KubernetesConfigException($"exec plugin {command} exited {process.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}");
        }
        try
        {
            var credential = JsonSerializer.Deserialize(await stdout.ConfigureAwait(false), KubernetesJsonContext.Default.ExecCredential);
            return credential?.Status ?? throw new KubernetesConfigException($"exec plugin {command} printed an ExecCredential without status");
        }
        catch (JsonException e)
        {
            throw new KubernetesConfigException($"exec plugin {command} printed something that is not an ExecCredential: {e.Message}", e);
        }
    }
}
