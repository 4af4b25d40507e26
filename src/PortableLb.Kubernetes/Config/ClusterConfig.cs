using System.Security.Cryptography.X509Certificates;
using k8s;
using k8s.Authentication;

namespace PortableLb.Kubernetes.Config;

/// <summary>The package's configuration of one API server, and where it came from (for logs and errors).</summary>
public sealed record ClusterConnection(KubernetesClientConfiguration Configuration, string Source)
{
    /// <summary>The context's namespace, or the service account's.</summary>
    public string? Namespace => Configuration.Namespace;
}

/// <summary>
/// Picks the configuration: an explicit --kubeconfig first (the user asked for it), then the in-cluster service
/// account, then $KUBECONFIG, then ~/.kube/config.
/// </summary>
public static class ClusterConfig
{
    public static ClusterConnection Load(string? kubeconfig, string? context, IReadOnlyDictionary<string, string?>? environment = null, string? serviceAccountRoot = null)
    {
        string? Env(string name) => environment is null ? Environment.GetEnvironmentVariable(name) : environment.GetValueOrDefault(name);
        if (kubeconfig is not null) return Kubeconfig.Load(kubeconfig, context);
        if (InCluster.TryLoad(Env, serviceAccountRoot ?? InCluster.DefaultRoot) is { } inCluster) return inCluster;
        if (Env("KUBECONFIG") is { Length: > 0 } fromEnv) return Kubeconfig.Load(fromEnv.Split(':')[0], context);
        var home = Env("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var path = Path.Combine(home, ".kube", "config");
        if (File.Exists(path)) return Kubeconfig.Load(path, context);
        throw new KubernetesConfigException("no Kubernetes configuration: not in a cluster (KUBERNETES_SERVICE_HOST is unset), no --kubeconfig, no $KUBECONFIG and no ~/.kube/config");
    }
}

/// <summary>
/// The pod's service account: KUBERNETES_SERVICE_HOST/_PORT, and the CA, token and namespace files. The package's
/// InClusterConfig reads a fixed folder and says only "unable to load"; this builds the same configuration (its
/// TokenFileAuth re-reads the kubelet's rotated token every minute) from a folder we name, with errors that say which
/// file is missing.
/// </summary>
public static class InCluster
{
    public const string DefaultRoot = "/var/run/secrets/kubernetes.io/serviceaccount";

    public static ClusterConnection? TryLoad(Func<string, string?> environment, string root)
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
        var hostPart = host.Contains(':') ? $"[{host}]" : host;
        var configuration = new KubernetesClientConfiguration
        {
            Host = $"https://{hostPart}:{port}",
            SslCaCerts = ca,
            TokenProvider = new TokenFileAuth(tokenPath),
            Namespace = File.Exists(namespacePath) ? File.ReadAllText(namespacePath).Trim() : null,
        };
        return new ClusterConnection(configuration, "in-cluster service account");
    }
}

/// <summary>A kubeconfig or in-cluster setting PortableLb cannot use, named by its field.</summary>
public sealed class KubernetesConfigException(string message, Exception? inner = null) : Exception(message, inner);
