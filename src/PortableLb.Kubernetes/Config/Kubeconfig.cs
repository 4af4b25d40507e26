using System.Security.Cryptography.X509Certificates;
using YamlDotNet.RepresentationModel;

namespace PortableLb.Kubernetes.Config;

/// <summary>
/// Reads the subset of kubeconfig PortableLb supports. Anything else (auth-provider, basic auth, impersonation,
/// proxies) is a clear error naming the field, never silently ignored.
/// </summary>
public static class Kubeconfig
{
    private static readonly string[] UnsupportedUserFields = ["auth-provider", "username", "password", "as", "as-groups", "as-uid", "as-user-extra"];
    private static readonly string[] UnsupportedClusterFields = ["proxy-url", "tls-server-name"];

    public static ClusterEndpoint Load(string path, string? contextName, TimeProvider time)
    {
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            using (var reader = File.OpenText(path)) stream.Load(reader);
            root = stream.Documents.FirstOrDefault()?.RootNode as YamlMappingNode ?? throw new KubernetesConfigException($"{path}: not a kubeconfig (no mapping at the top)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException)
        {
            throw new KubernetesConfigException($"{path}: cannot be read: {e.Message}", e);
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;

        var selected = contextName ?? Scalar(root, "current-context") ?? throw new KubernetesConfigException($"{path}: current-context is not set and no --context was given");
        var (contextIndex, context) = Named(root, "contexts", selected, path, "context");
        var contextPath = $"contexts[{contextIndex}].context";
        var clusterName = Scalar(context, "cluster") ?? throw new KubernetesConfigException($"{path}: {contextPath}.cluster is missing");
        var (clusterIndex, cluster) = Named(root, "clusters", clusterName, path, "cluster");
        var clusterPath = $"clusters[{clusterIndex}].cluster";
        foreach (var field in UnsupportedClusterFields.Where(f => Has(cluster, f)))
        {
            throw new KubernetesConfigException($"{path}: {clusterPath}.{field} is not supported by PortableLb");
        }

        var server = Scalar(cluster, "server") ?? throw new KubernetesConfigException($"{path}: {clusterPath}.server is missing");
        if (!Uri.TryCreate(server, UriKind.Absolute, out var serverUri) || serverUri.Scheme is not ("https" or "http"))
        {
            throw new KubernetesConfigException($"{path}: {clusterPath}.server \"{server}\" is not an http(s) URL");
        }
        var ca = Pem(cluster, "certificate-authority", directory, path, clusterPath) is { } caPem ? ImportCertificates(caPem, path, $"{clusterPath}.certificate-authority") : null;
        var insecure = Scalar(cluster, "insecure-skip-tls-verify") is "true";

        ICredentialSource credentials = new StaticCredential(Credential.None);
        if (Scalar(context, "user") is { } userName)
        {
            var (userIndex, user) = Named(root, "users", userName, path, "user");
            credentials = Credentials(user, $"users[{userIndex}].user", directory, path, time);
        }
        return new ClusterEndpoint(serverUri, ca, insecure, credentials, Scalar(context, "namespace"), $"kubeconfig {path}, context {selected}");
    }

    private static ICredentialSource Credentials(YamlMappingNode user, string userPath, string directory, string path, TimeProvider time)
    {
        foreach (var field in UnsupportedUserFields.Where(f => Has(user, f)))
        {
            throw new KubernetesConfigException($"{path}: {userPath}.{field} is not supported by PortableLb; use token, tokenFile, client certificates or exec");
        }
        if (Child(user, "exec") is YamlMappingNode exec) return Exec(exec, $"{userPath}.exec", path, time);
        if (Scalar(user, "tokenFile") is { } tokenFile) return new TokenFileCredential(Resolve(tokenFile, directory), time);

        X509Certificate2? certificate = null;
        var certPem = Pem(user, "client-certificate", directory, path, userPath);
        var keyPem = Pem(user, "client-key", directory, path, userPath);
        if (certPem is not null || keyPem is not null)
        {
            if (certPem is null || keyPem is null) throw new KubernetesConfigException($"{path}: {userPath}: client-certificate and client-key go together");
            try
            {
                certificate = X509Certificate2.CreateFromPem(certPem, keyPem);
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                throw new KubernetesConfigException($"{path}: {userPath}.client-certificate/client-key: {e.Message}", e);
            }
        }
        return new StaticCredential(new Credential(Scalar(user, "token"), certificate));
    }

    private static ExecCredentialSource Exec(YamlMappingNode exec, string execPath, string path, TimeProvider time)
    {
        var apiVersion = Scalar(exec, "apiVersion") ?? throw new KubernetesConfigException($"{path}: {execPath}.apiVersion is missing");
        if (apiVersion != "client.authentication.k8s.io/v1")
        {
            throw new KubernetesConfigException($"{path}: {execPath}.apiVersion \"{apiVersion}\" is not supported; use client.authentication.k8s.io/v1");
        }
        var command = Scalar(exec, "command") ?? throw new KubernetesConfigException($"{path}: {execPath}.command is missing");
        var arguments = (Child(exec, "args") as YamlSequenceNode)?.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? "").ToList() ?? [];
        var environment = new Dictionary<string, string>();
        foreach (var entry in (Child(exec, "env") as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [])
        {
            if (Scalar(entry, "name") is { } name) environment[name] = Scalar(entry, "value") ?? "";
        }
        return new ExecCredentialSource(command, arguments, environment, apiVersion, time);
    }

    /// <summary>FIELD-data (base64 PEM) or FIELD (a file, relative to the kubeconfig), as kubectl reads them.</summary>
    private static string? Pem(YamlMappingNode node, string field, string directory, string path, string nodePath)
    {
        if (Scalar(node, $"{field}-data") is { } data)
        {
            try
            {
                return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(data));
            }
            catch (FormatException)
            {
                throw new KubernetesConfigException($"{path}: {nodePath}.{field}-data is not base64");
            }
        }
        if (Scalar(node, field) is not { } file) return null;
        var resolved = Resolve(file, directory);
        if (!File.Exists(resolved)) throw new KubernetesConfigException($"{path}: {nodePath}.{field}: {resolved} does not exist");
        return File.ReadAllText(resolved);
    }

    private static X509Certificate2Collection ImportCertificates(string pem, string path, string field)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new KubernetesConfigException($"{path}: {field}: {e.Message}", e);
        }
        if (collection.Count == 0) throw new KubernetesConfigException($"{path}: {field} holds no certificate");
        return collection;
    }

    private static (int Index, YamlMappingNode Body) Named(YamlMappingNode root, string listName, string name, string path, string bodyField)
    {
        var list = Child(root, listName) as YamlSequenceNode;
        for (var i = 0; i < (list?.Children.Count ?? 0); i++)
        {
            if (list!.Children[i] is YamlMappingNode entry && Scalar(entry, "name") == name)
            {
                return Child(entry, bodyField) is YamlMappingNode body
                    ? (i, body)
                    : throw new KubernetesConfigException($"{path}: {listName}[{i}].{bodyField} is missing");
            }
        }
        throw new KubernetesConfigException($"{path}: {listName} has no entry named \"{name}\"");
    }

    private static YamlNode? Child(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static bool Has(YamlMappingNode node, string key) => Child(node, key) is not null;

    private static string? Scalar(YamlMappingNode node, string key) => (Child(node, key) as YamlScalarNode)?.Value is { Length: > 0 } value ? value : null;

    private static string Resolve(string file, string directory) => Path.IsPathRooted(file) ? file : Path.Combine(directory, file);
}
