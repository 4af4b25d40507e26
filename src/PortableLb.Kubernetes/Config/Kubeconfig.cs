using k8s;
using k8s.Exceptions;
using k8s.KubeConfigModels;
using YamlDotNet.RepresentationModel;

namespace PortableLb.Kubernetes.Config;

/// <summary>
/// Loads a kubeconfig through the package, after checking what the package would get wrong quietly: fields it drops
/// unread (tokenFile, proxy-url), ones we refuse (auth-provider, basic auth, impersonation), files that do not exist.
/// Every error names the field, as `users[0].user.exec.apiVersion`.
/// </summary>
public static class Kubeconfig
{
    /// <summary>Fields the package's kubeconfig model does not carry: it would ignore them and connect differently.</summary>
    private static readonly (string List, string Body, string Field)[] Dropped =
        [("users", "user", "tokenFile"), ("clusters", "cluster", "proxy-url"), ("clusters", "cluster", "disable-compression")];

    private static readonly string[] ExecVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];

    public static ClusterConnection Load(string path, string? contextName)
    {
        K8SConfiguration config;
        try
        {
            RefuseDroppedFields(path);
            config = KubernetesClientConfiguration.LoadKubeConfig(path, useRelativePaths: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or KubeConfigException or YamlDotNet.Core.YamlException)
        {
            throw new KubernetesConfigException($"{path}: cannot be read: {e.Message}", e);
        }
        var selected = contextName ?? (config.CurrentContext is { Length: > 0 } current ? current : null)
            ?? throw new KubernetesConfigException($"{path}: current-context is not set and no --context was given");
        Check(config, selected, path);
        try
        {
            var configuration = KubernetesClientConfiguration.BuildConfigFromConfigObject(config, selected);
            return new ClusterConnection(configuration, $"kubeconfig {path}, context {selected}");
        }
        catch (KubeConfigException e)
        {
            throw new KubernetesConfigException($"{path}: {e.Message}", e);
        }
    }

    private static void Check(K8SConfiguration config, string selected, string path)
    {
        var contextIndex = config.Contexts.FindIndex(c => c.Name == selected);
        if (contextIndex < 0) throw new KubernetesConfigException($"{path}: contexts has no entry named \"{selected}\"");
        var context = config.Contexts[contextIndex].ContextDetails ?? throw new KubernetesConfigException($"{path}: contexts[{contextIndex}].context is missing");
        if (context.Cluster is not { Length: > 0 }) throw new KubernetesConfigException($"{path}: contexts[{contextIndex}].context.cluster is missing");

        var clusterIndex = config.Clusters.FindIndex(c => c.Name == context.Cluster);
        if (clusterIndex < 0) throw new KubernetesConfigException($"{path}: clusters has no entry named \"{context.Cluster}\"");
        var clusterPath = $"clusters[{clusterIndex}].cluster";
        var cluster = config.Clusters[clusterIndex].ClusterEndpoint ?? throw new KubernetesConfigException($"{path}: {clusterPath} is missing");
        if (cluster.Server is not { Length: > 0 } server) throw new KubernetesConfigException($"{path}: {clusterPath}.server is missing");
        if (!Uri.TryCreate(server, UriKind.Absolute, out var serverUri) || serverUri.Scheme is not ("https" or "http"))
        {
            throw new KubernetesConfigException($"{path}: {clusterPath}.server \"{server}\" is not an http(s) URL");
        }
        MustExist(cluster.CertificateAuthority, path, $"{clusterPath}.certificate-authority");

        if (context.User is not { Length: > 0 }) return;
        var userIndex = config.Users.FindIndex(u => u.Name == context.User);
        if (userIndex < 0) throw new KubernetesConfigException($"{path}: users has no entry named \"{context.User}\"");
        var userPath = $"users[{userIndex}].user";
        var user = config.Users[userIndex].UserCredentials ?? throw new KubernetesConfigException($"{path}: {userPath} is missing");
        string? refused = user switch
        {
            { AuthProvider: not null } => "auth-provider",
            { UserName.Length: > 0 } => "username",
            { Password.Length: > 0 } => "password",
            { Impersonate.Length: > 0 } => "as",
            _ when user.ImpersonateGroups?.Any() == true => "as-groups",
            _ when user.ImpersonateUserExtra?.Count > 0 => "as-user-extra",
            _ => null,
        };
        if (refused is not null)
        {
            throw new KubernetesConfigException($"{path}: {userPath}.{refused} is not supported by PortableLb; use token, client certificates or exec");
        }
        if (user.ExternalExecution is { } exec)
        {
            if (exec.Command is not { Length: > 0 }) throw new KubernetesConfigException($"{path}: {userPath}.exec.command is missing");
            if (!ExecVersions.Contains(exec.ApiVersion))
            {
                throw new KubernetesConfigException($"{path}: {userPath}.exec.apiVersion \"{exec.ApiVersion}\" is not supported; use {ExecVersions[0]}");
            }
        }
        if ((user.ClientCertificate is { Length: > 0 } || user.ClientCertificateData is { Length: > 0 }) != (user.ClientKey is { Length: > 0 } || user.ClientKeyData is { Length: > 0 }))
        {
            throw new KubernetesConfigException($"{path}: {userPath}: client-certificate and client-key go together");
        }
        MustExist(user.ClientCertificate, path, $"{userPath}.client-certificate");
        MustExist(user.ClientKey, path, $"{userPath}.client-key");
    }

    private static void MustExist(string? file, string path, string field)
    {
        if (file is not { Length: > 0 }) return;
        var resolved = Path.IsPathRooted(file) ? file : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, file);
        if (!File.Exists(resolved)) throw new KubernetesConfigException($"{path}: {field}: {resolved} does not exist");
    }

    private static void RefuseDroppedFields(string path)
    {
        var stream = new YamlStream();
        using (var reader = File.OpenText(path)) stream.Load(reader);
        if (stream.Documents.FirstOrDefault()?.RootNode is not YamlMappingNode root) throw new KubernetesConfigException($"{path}: not a kubeconfig (no mapping at the top)");
        foreach (var (listName, bodyName, field) in Dropped)
        {
            if (!root.Children.TryGetValue(listName, out var list) || list is not YamlSequenceNode entries) continue;
            for (var i = 0; i < entries.Children.Count; i++)
            {
                if (entries.Children[i] is YamlMappingNode entry && entry.Children.TryGetValue(bodyName, out var body)
                    && body is YamlMappingNode fields && fields.Children.ContainsKey(field))
                {
                    throw new KubernetesConfigException($"{path}: {listName}[{i}].{bodyName}.{field} is not supported by the Kubernetes client PortableLb uses");
                }
            }
        }
    }
}
