using CliWrap;
using CliWrap.Buffered;
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
        var plugin = CliWrap.Cli.Wrap(command)
            .WithArguments(arguments)
            .WithEnvironmentVariables(variables =>
            {
                foreach (var (name, value) in environment) variables.Set(name, value);
                variables.Set("KUBERNETES_EXEC_INFO", $$$"""{"apiVersion":"{{{apiVersion}}}","kind":"ExecCredential","spec":{"interactive":false}}""");
            })
            .WithStandardInputPipe(PipeSource.Null)
            .WithValidation(CommandResultValidation.None);

        Runs++;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        BufferedCommandResult result;
        try
        {
            result = await plugin.ExecuteBufferedAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new KubernetesConfigException($"exec plugin {command} cannot be started: {e.Message}", e);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KubernetesConfigException($"exec plugin {command} did not finish within {Timeout.TotalSeconds} s");
        }
        if (result.ExitCode != 0)
        {
            throw new KubernetesConfigException($"exec plugin {command} exited {result.ExitCode}: {result.StandardError.Trim()}");
        }
        try
        {
            var credential = JsonSerializer.Deserialize(result.StandardOutput, KubernetesJsonContext.Default.ExecCredential);
            return credential?.Status ?? throw new KubernetesConfigException($"exec plugin {command} printed an ExecCredential without status");
        }
        catch (JsonException e)
        {
            throw new KubernetesConfigException($"exec plugin {command} printed something that is not an ExecCredential: {e.Message}", e);
        }
    }
}
