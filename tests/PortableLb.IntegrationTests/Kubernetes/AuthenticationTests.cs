using System.Text;
using PortableLb.Testing.FakeApi;
using PortableLb.Kubernetes;
using k8s.Authentication;
using PortableLb.Kubernetes.Config;

namespace PortableLb.IntegrationTests.Kubernetes;

[CancelAfter(60_000)]
public sealed class AuthenticationTests
{
    private string _folder = "";
    private TestPki _pki = null!;

    [SetUp]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("portable-lb-auth-").FullName;
        _pki = new TestPki();
    }

    [TearDown]
    public void Cleanup()
    {
        _pki.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private static async Task<int> CountServices(ClusterConnection connection, CancellationToken cancellationToken)
    {
        using var client = new KubernetesClient(connection);
        var list = await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken);
        return list.Items?.Count ?? 0;
    }

    private string Kubeconfig(FakeApiServer server, string user)
    {
        var path = Path.Combine(_folder, "kubeconfig");
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            current-context: test
            contexts:
              - name: other
                context: {"{"}cluster: nowhere, user: nobody{"}"}
              - name: test
                context: {"{"}cluster: fake, user: me, namespace: shop{"}"}
            clusters:
              - name: fake
                cluster:
                  server: {server.Address}
                  certificate-authority-data: {Convert.ToBase64String(Encoding.UTF8.GetBytes(_pki.AuthorityPem))}
            users:
              - name: me
                user:
            {user}
            """);
        return path;
    }

    private Task<FakeApiServer> TlsServer(params string[] tokens) => FakeApiServer.StartAsync(new FakeApiServerOptions
    {
        Tokens = tokens,
        ServerCertificate = _pki.Server,
        ClientCertificateAuthority = _pki.Authority,
    });

    [Test]
    public async Task In_cluster_configuration_trusts_the_mounted_CA_and_reads_the_token_file(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer("token-1");
        server.Store.Apply(Resources.Services, TestObjects.Service("web"));
        await File.WriteAllTextAsync(Path.Combine(_folder, "ca.crt"), _pki.AuthorityPem, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "token"), "token-1\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "namespace"), "default", cancellationToken);
        var environment = new Dictionary<string, string?> { ["KUBERNETES_SERVICE_HOST"] = "127.0.0.1", ["KUBERNETES_SERVICE_PORT"] = server.Address.Port.ToString() };

        var connection = ClusterConfig.Load(null, null, environment, _folder);
        Assert.That((connection.Source, connection.Namespace), Is.EqualTo(("in-cluster service account", "default")));
        // The kubelet rotates a projected token hourly; the package's TokenFileAuth re-reads the file every minute.
        Assert.That(connection.Configuration.TokenProvider, Is.TypeOf<TokenFileAuth>());
        using var client = new KubernetesClient(connection);
        Assert.That((await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken)).Items, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task In_cluster_configuration_without_a_token_file_names_the_file()
    {
        await File.WriteAllTextAsync(Path.Combine(_folder, "ca.crt"), _pki.AuthorityPem);
        var environment = new Dictionary<string, string?> { ["KUBERNETES_SERVICE_HOST"] = "127.0.0.1" };
        Assert.That(() => ClusterConfig.Load(null, null, environment, _folder),
            Throws.TypeOf<KubernetesConfigException>().With.Message.Contains(Path.Combine(_folder, "token")).And.Message.Contains("automountServiceAccountToken"));
    }

    [Test]
    public async Task A_kubeconfig_with_a_token_and_inline_CA_works_and_the_context_sets_the_namespace(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer("kubeconfig-token");
        var connection = ClusterConfig.Load(Kubeconfig(server, "      token: kubeconfig-token"), null);
        Assert.That(connection.Namespace, Is.EqualTo("shop"));
        Assert.That(await CountServices(connection, cancellationToken), Is.Zero);
    }

    [Test]
    public async Task A_server_certificate_from_another_CA_is_refused(CancellationToken cancellationToken)
    {
        using var otherPki = new TestPki();
        await using var server = await FakeApiServer.StartAsync(new FakeApiServerOptions { Tokens = ["t"], ServerCertificate = otherPki.Server });
        var connection = ClusterConfig.Load(Kubeconfig(server, "      token: t"), null);
        Assert.That(async () => await CountServices(connection, cancellationToken), Throws.InstanceOf<HttpRequestException>());
    }

    [Test]
    public async Task A_kubeconfig_with_client_certificate_files_authenticates_without_a_token(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer();
        await File.WriteAllTextAsync(Path.Combine(_folder, "client.crt"), _pki.ClientCertificatePem, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "client.key"), _pki.ClientKeyPem, cancellationToken);
        var connection = ClusterConfig.Load(Kubeconfig(server, "      client-certificate: client.crt\n      client-key: client.key"), null);
        Assert.That(await CountServices(connection, cancellationToken), Is.Zero);
    }

    [Test]
    public async Task A_kubeconfig_with_inline_client_certificate_data_authenticates(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer();
        string B64(string pem) => Convert.ToBase64String(Encoding.UTF8.GetBytes(pem));
        var connection = ClusterConfig.Load(Kubeconfig(server, $"      client-certificate-data: {B64(_pki.ClientCertificatePem)}\n      client-key-data: {B64(_pki.ClientKeyPem)}"), null);
        Assert.That(await CountServices(connection, cancellationToken), Is.Zero);
    }

    private string PluginRuns => Path.Combine(_folder, "runs");

    /// <summary>An exec plugin that notes each run in <see cref="PluginRuns"/>, runs <paramref name="step"/>, and prints an ExecCredential whose status holds <paramref name="status"/>.</summary>
    private string ExecPlugin(string step, string status)
    {
        var plugin = Path.Combine(_folder, "credential-plugin.sh");
        File.WriteAllText(plugin, $$$"""
            #!/bin/sh
            echo run >> {{{PluginRuns}}}
            {{{step}}}
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{{{status.Trim()}}}}}'
            """);
        File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        return plugin;
    }

    /// <summary>The package runs the plugin once to build the configuration and again for the first request.</summary>
    [TestCase(600, 2, TestName = "An exec plugin's token is reused while it is valid")]
    [TestCase(20, 4, TestName = "An exec plugin runs again once its token is within 30 s of expiring")]
    public async Task An_exec_plugin_token_is_cached_until_it_nears_expiry(int validSeconds, int expectedRuns)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var server = await TlsServer("from-exec");
        var plugin = ExecPlugin("""[ -n "$KUBERNETES_EXEC_INFO" ] || exit 3""", """ "token":"from-exec","expirationTimestamp":"'"$EXPIRES"'" """);
        var expires = DateTimeOffset.UtcNow.AddSeconds(validSeconds).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var exec = $"      exec:\n        apiVersion: client.authentication.k8s.io/v1\n        command: {plugin}\n        env: [{{name: EXPIRES, value: \"{expires}\"}}]";
        var connection = ClusterConfig.Load(Kubeconfig(server, exec), null);

        using var client = new KubernetesClient(connection);
        await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancel.Token);
        await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancel.Token);
        await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancel.Token);
        Assert.That(File.ReadAllLines(PluginRuns), Has.Length.EqualTo(expectedRuns));
    }

    [Test]
    public async Task Requests_that_start_together_run_an_exec_plugin_once()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var server = await TlsServer("from-exec");
        var plugin = ExecPlugin("sleep 0.3", """ "token":"from-exec" """);
        var connection = ClusterConfig.Load(Kubeconfig(server, $"      exec:\n        apiVersion: client.authentication.k8s.io/v1\n        command: {plugin}"), null);

        using var client = new KubernetesClient(connection);
        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancel.Token)));
        Assert.That(File.ReadAllLines(PluginRuns), Has.Length.EqualTo(2), "once to load the configuration, once for the first token; not once per request");
    }

    [TestCase("      auth-provider: {name: gcp}", "users[0].user.auth-provider is not supported")]
    [TestCase("      username: admin\n      password: secret", "users[0].user.username is not supported")]
    [TestCase("      exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}", "users[0].user.exec.apiVersion \"client.authentication.k8s.io/v1alpha1\" is not supported")]
    [TestCase("      tokenFile: /var/run/token", "users[0].user.tokenFile is not supported")]
    [TestCase("      as: someone-else\n      token: t", "users[0].user.as is not supported")]
    [TestCase("      client-certificate: missing.crt\n      client-key: missing.key", "users[0].user.client-certificate:")]
    public async Task An_unsupported_kubeconfig_setting_is_an_error_naming_the_field(string user, string expected)
    {
        await using var server = await FakeApiServer.StartAsync();
        var path = Kubeconfig(server, user);
        Assert.That(() => ClusterConfig.Load(path, null), Throws.TypeOf<KubernetesConfigException>().With.Message.Contains(expected));
    }

    [Test]
    public async Task An_unknown_context_is_an_error_naming_it()
    {
        await using var server = await FakeApiServer.StartAsync();
        var path = Kubeconfig(server, "      token: t");
        Assert.That(() => ClusterConfig.Load(path, "staging"),
            Throws.TypeOf<KubernetesConfigException>().With.Message.Contains("contexts has no entry named \"staging\""));
    }
}
