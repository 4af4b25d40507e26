using PortableLb.Testing.FakeApi;

namespace PortableLb.IntegrationTests.Controller;

/// <summary>`portable-lb run` processes against the fake API server, as LB pods of one Deployment: each its own name and config folder, one kubeconfig, the tuning ConfigMap default/portable-lb-config.</summary>
internal static class ApiControllers
{
    public static async Task<string> KubeconfigAsync(FakeApiServer server, string folder)
    {
        var kubeconfig = Path.Combine(folder, "kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            current-context: fake
            contexts: [{"{"}name: fake, context: {"{"}cluster: fake, user: me, namespace: default{"}"}{"}"}]
            clusters: [{"{"}name: fake, cluster: {"{"}server: "{server.Address}"{"}"}{"}"}]
            users: [{"{"}name: me, user: {"{"}token: test-token{"}"}{"}"}]
            """);
        return kubeconfig;
    }

    public static System.Diagnostics.Process Start(string folder, string kubeconfig, string pod, List<string> output)
    {
        var run = Directory.CreateDirectory(Path.Combine(folder, pod)).FullName;
        return ControllerProcess.Start(
        [
            "--kubeconfig", kubeconfig, "--tuning-configmap", "default/portable-lb-config", "--config-dir", run, "--listen", "127.0.0.1:0", "--pod-name", pod,
            "--keepalived-pidfile", Path.Combine(run, "keepalived.pid"), "--exabgp-pidfile", Path.Combine(run, "exabgp.pid"),
            "--debounce", "20", "--data-plane", "off", "--withdraw-grace", "0",
        ], output);
    }
}
