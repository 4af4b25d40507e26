using System.Net;
using System.Text;
using PortableLb.Testing.FakeApi;
using PortableLb.Kubernetes;
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

    private static async Task<int> CountServices(ClusterEndpoint endpoint, CancellationToken cancellationToken)
    {
        using var client = new KubernetesClient(endpoint);
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
    public async Task In_cluster_configuration_trusts_the_mounted_CA_and_picks_up_a_rotated_token(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer("token-1");
        server.Store.Apply(Resources.Services, TestObjects.Service("web"));
        await File.WriteAllTextAsync(Path.Combine(_folder, "ca.crt"), _pki.AuthorityPem, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "token"), "token-1\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "namespace"), "default", cancellationToken);
        var environment = new Dictionary<string, string?> { ["KUBERNETES_SERVICE_HOST"] = "127.0.0.1", ["KUBERNETES_SERVICE_PORT"] = server.Address.Port.ToString() };
        var time = new ManualTime(DateTimeOffset.UtcNow);

        var endpoint = ClusterConfig.Load(null, null, time, environment, _folder);
        Assert.That((endpoint.Source, endpoint.Namespace), Is.EqualTo(("in-cluster service account", "default")));
        using var client = new KubernetesClient(endpoint);
        Assert.That((await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken)).Items, Has.Count.EqualTo(1));

        // The kubelet rotates the token; the old one stops working at once.
        await File.WriteAllTextAsync(Path.Combine(_folder, "token"), "token-2\n", cancellationToken);
        server.SetTokens("token-2");
        var stale = Assert.ThrowsAsync<KubernetesApiException>(() => client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken));
        Assert.That(stale!.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "within the minute the cached token is still used");
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.That((await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken)).Items, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_kubeconfig_with_a_token_and_inline_CA_works_and_the_context_sets_the_namespace(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer("kubeconfig-token");
        var endpoint = ClusterConfig.Load(Kubeconfig(server, "      token: kubeconfig-token"), null, TimeProvider.System);
        Assert.That(endpoint.Namespace, Is.EqualTo("shop"));
        Assert.That(await CountServices(endpoint, cancellationToken), Is.Zero);
    }

    [Test]
    public async Task A_server_certificate_from_another_CA_is_refused(CancellationToken cancellationToken)
    {
        using var otherPki = new TestPki();
        await using var server = await FakeApiServer.StartAsync(new FakeApiServerOptions { Tokens = ["t"], ServerCertificate = otherPki.Server });
        var endpoint = ClusterConfig.Load(Kubeconfig(server, "      token: t"), null, TimeProvider.System);
        Assert.That(async () => await CountServices(endpoint, cancellationToken), Throws.InstanceOf<HttpRequestException>());
    }

    [Test]
    public async Task A_kubeconfig_with_client_certificate_files_authenticates_without_a_token(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer();
        await File.WriteAllTextAsync(Path.Combine(_folder, "client.crt"), _pki.ClientCertificatePem, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(_folder, "client.key"), _pki.ClientKeyPem, cancellationToken);
        var endpoint = ClusterConfig.Load(Kubeconfig(server, "      client-certificate: client.crt\n      client-key: client.key"), null, TimeProvider.System);
        Assert.That(await CountServices(endpoint, cancellationToken), Is.Zero);
    }

    [Test]
    public async Task A_kubeconfig_with_inline_client_certificate_data_authenticates(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer();
        string B64(string pem) => Convert.ToBase64String(Encoding.UTF8.GetBytes(pem));
        var endpoint = ClusterConfig.Load(Kubeconfig(server, $"      client-certificate-data: {B64(_pki.ClientCertificatePem)}\n      client-key-data: {B64(_pki.ClientKeyPem)}"), null, TimeProvider.System);
        Assert.That(await CountServices(endpoint, cancellationToken), Is.Zero);
    }

    [Test]
    public async Task An_exec_plugin_token_is_cached_until_it_expires(CancellationToken cancellationToken)
    {
        await using var server = await TlsServer("from-exec");
        var runs = Path.Combine(_folder, "runs");
        var plugin = Path.Combine(_folder, "credential-plugin.sh");
        await File.WriteAllTextAsync(plugin, $$$"""
            #!/bin/sh
            echo run >> {{{runs}}}
            [ -n "$KUBERNETES_EXEC_INFO" ] || exit 3
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec","expirationTimestamp":"'"$EXPIRES"'"}}'
            """, cancellationToken);
        File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var expires = time.GetUtcNow().AddMinutes(10).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var exec = $"      exec:\n        apiVersion: client.authentication.k8s.io/v1\n        command: {plugin}\n        env: [{{name: EXPIRES, value: \"{expires}\"}}]";
        var endpoint = ClusterConfig.Load(Kubeconfig(server, exec), null, time);

        using var client = new KubernetesClient(endpoint);
        await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken);
        await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken);
        Assert.That(File.ReadAllLines(runs), Has.Length.EqualTo(1), "cached while valid");

        time.Advance(TimeSpan.FromMinutes(11));
        await client.ListAsync(Resources.Services, "default", new ListOptions(), null, cancellationToken);
        Assert.That(File.ReadAllLines(runs), Has.Length.EqualTo(2), "run again after expiry");
    }

    [TestCase("      auth-provider: {name: gcp}", "users[0].user.auth-provider is not supported")]
    [TestCase("      username: admin\n      password: secret", "users[0].user.username is not supported")]
    [TestCase("      exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: x}", "users[0].user.exec.apiVersion \"client.authentication.k8s.io/v1beta1\" is not supported")]
    [TestCase("      client-certificate: missing.crt\n      client-key: missing.key", "users[0].user.client-certificate:")]
    public async Task An_unsupported_kubeconfig_setting_is_an_error_naming_the_field(string user, string expected)
    {
        await using var server = await FakeApiServer.StartAsync();
        var path = Kubeconfig(server, user);
        Assert.That(() => ClusterConfig.Load(path, null, TimeProvider.System), Throws.TypeOf<KubernetesConfigException>().With.Message.Contains(expected));
    }

    [Test]
    public async Task An_unknown_context_is_an_error_naming_it()
    {
        await using var server = await FakeApiServer.StartAsync();
        var path = Kubeconfig(server, "      token: t");
        Assert.That(() => ClusterConfig.Load(path, "staging", TimeProvider.System),
            Throws.TypeOf<KubernetesConfigException>().With.Message.Contains("contexts has no entry named \"staging\""));
    }
}
