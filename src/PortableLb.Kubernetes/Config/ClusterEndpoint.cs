using System.Security.Cryptography.X509Certificates;

namespace PortableLb.Kubernetes.Config;

/// <summary>How to reach one API server: address, whom to trust, who we are, and where the settings came from.</summary>
public sealed record ClusterEndpoint(
    Uri Server,
    X509Certificate2Collection? CertificateAuthority,
    bool InsecureSkipTlsVerify,
    ICredentialSource Credentials,
    string? Namespace,
    string Source);

/// <summary>
/// Picks the configuration: an explicit --kubeconfig first (the user asked for it), then the in-cluster service
/// account, then $KUBECONFIG, then ~/.kube/config.
/// </summary>
public static class ClusterConfig
{
    public static ClusterEndpoint Load(string? kubeconfig, string? context, TimeProvider time, IReadOnlyDictionary<string, string?>? environment = null, string? serviceAccountRoot = null)
    {
        string? Env(string name) => environment is null ? Environment.GetEnvironmentVariable(name) : environment.GetValueOrDefault(name);
        if (kubeconfig is not null) return Kubeconfig.Load(kubeconfig, context, time);
        if (InCluster.TryLoad(Env, serviceAccountRoot ?? InCluster.DefaultRoot, time) is { } inCluster) return inCluster;
        if (Env("KUBECONFIG") is { Length: > 0 } fromEnv) return Kubeconfig.Load(fromEnv.Split(':')[0], context, time);
        var home = Env("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var path = Path.Combine(home, ".kube", "config");
        if (File.Exists(path)) return Kubeconfig.Load(path, context, time);
        throw new KubernetesConfigException("no Kubernetes configuration: not in a cluster (KUBERNETES_SERVICE_HOST is unset), no --kubeconfig, no $KUBECONFIG and no ~/.kube/config");
    }
}

/// <summary>The pod's service account: KUBERNETES_SERVICE_HOST/_PORT, and the CA, token and namespace files.</summary>
public static class InCluster
{
    public const string DefaultRoot = "/var/run/secrets/kubernetes.io/serviceaccount";

    public static ClusterEndpoint? TryLoad(Func<string, string?> environment, string root, TimeProvider time)
    {
        if (environment("KUBERNETES_SERVICE_HOST") is not { Length: > 0 } host) return null;
        var port = environment("KUBERNETES_SERVICE_PORT") is { Length: > 0 } p ? p : "443";
        var caPath = Path.Combine(root, "ca.crt");
        var tokenPath = Path.Combine(root, "token");
        if (!File.Exists(caPath)) throw new KubernetesConfigException($"in-cluster: {caPath} is missing; is a service account mounted?");
        if (!File.Exists(tokenPath)) throw new KubernetesConfigException($"in-cluster: {tokenPath} is missing; is automountServiceAccountToken off?");
        var ca = new X509Certificate2Collection();
        ca.ImportFromPemFile(caPath);
        var namespacePath = Path.Combine(root, "namespace");
        var ns = File.Exists(namespacePath) ? File.ReadAllText(namespacePath).Trim() : null;
        var hostPart = host.Contains(':') ? $"[{host}]" : host;
        return new ClusterEndpoint(new Uri($"https://{hostPart}:{port}"), ca, false, new TokenFileCredential(tokenPath, time), ns, "in-cluster service account");
    }
}
