using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;
using static PortableLb.Tests.Model.Cluster;

namespace PortableLb.Tests.Tuning;

public sealed class BgpPasswordTuningTests
{
    private sealed class FixedTuning : ITuningProvider
    {
        public (PortableLb.Tuning.TuningSettings Tuning, IReadOnlyList<PortableLb.Tuning.TuningError> Errors) Current(ClusterSnapshot snapshot) => (WithPeer, []);
    }

    private static readonly string Web = Service("web") + Slice("web", "[{addresses: [10.244.1.1]}]");

    private static string Secret(string data) => $$"""
        apiVersion: v1
        kind: Secret
        metadata: {name: bgp-password, namespace: lb}
        {{data}}
        ---

        """;

    private static string Base64(string text) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));

    private static BgpPasswordTuning Provider() => new(new FixedTuning(), "lb", "bgp-password");

    [Test]
    public void The_password_comes_from_the_Secret_data_and_reaches_every_neighbor()
    {
        var (tuning, errors) = Provider().Current(FromYaml(Web + Secret($"data: {{password: {Base64("s3cret pass\n")}}}")));
        Assert.That(errors, Is.Empty);
        Assert.That(tuning.Bgp.Md5Password, Is.EqualTo("s3cret pass"), "the trailing newline of a --from-file Secret is dropped");
        var state = PortableLb.Model.DesiredStateBuilder.Build(FromYaml(Web), tuning, Node).State;
        var exabgp = new ConfigRenderer(TemplateSet.Embedded()).Render(state).ExabgpConf;
        Assert.That(exabgp, Does.Contain("    md5-password \"s3cret pass\";\n"));
    }

    [TestCase("data: {password: \"\"}", "data[password]: must be 1 to 80 characters")]
    [TestCase("stringData: {password: 'has \"quote'}", "data[password]: must be printable ASCII without")]
    [TestCase("stringData: {password: \"tab\\there\"}", "data[password]: must be printable ASCII without")]
    [TestCase("stringData: {password: \"it's\"}", "data[password]: must be printable ASCII without")]
    [TestCase("stringData: {other: x}", "data[password]: is missing")]
    [TestCase("type: Opaque", "data[password]: is missing")]
    public void A_bad_Secret_is_an_error_naming_it_and_the_last_good_password_stays(string data, string expected)
    {
        var provider = Provider();
        provider.Current(FromYaml(Web + Secret("stringData: {password: good-one}")));
        var (tuning, errors) = provider.Current(FromYaml(Web + Secret(data)));
        Assert.That(errors.Select(e => e.ToString()), Has.One.StartsWith($"Secret lb/bgp-password: {expected}").And.Contains("keeping the last good password"));
        Assert.That(tuning.Bgp.Md5Password, Is.EqualTo("good-one"));
    }

    [Test]
    public void A_Secret_that_never_existed_means_no_password_and_no_error()
    {
        var (tuning, errors) = Provider().Current(FromYaml(Web));
        Assert.That(tuning.Bgp.Md5Password, Is.Null);
        Assert.That(errors, Is.Empty);
    }

    [Test]
    public void A_Secret_that_is_deleted_keeps_the_last_good_password_and_says_so()
    {
        var provider = Provider();
        provider.Current(FromYaml(Web + Secret("stringData: {password: good-one}")));
        var (tuning, errors) = provider.Current(FromYaml(Web));
        Assert.That(tuning.Bgp.Md5Password, Is.EqualTo("good-one"));
        Assert.That(errors.Single().ToString(), Is.EqualTo("Secret lb/bgp-password: metadata.name: no such Secret; keeping the last good password"));
    }

    [Test]
    public void A_first_Secret_that_is_invalid_is_an_error_and_BGP_runs_without_a_password()
    {
        var (tuning, errors) = Provider().Current(FromYaml(Web + Secret("stringData: {password: \"it's\"}")));
        Assert.That(tuning.Bgp.Md5Password, Is.Null);
        Assert.That(errors.Single().ToString(), Does.EndWith("BGP runs without a password until it is fixed"));
    }

    [Test]
    public async Task The_real_exabgp_accepts_the_password_line_and_the_file_is_not_world_readable()
    {
        Daemons.Require("keepalived", "exabgp");
        var folder = Directory.CreateTempSubdirectory("portable-lb-password-").FullName;
        try
        {
            var runner = new ProcessRunner();
            var (tuning, _) = Provider().Current(FromYaml(Web + Secret("stringData: {password: \"p@ss w0rd!#$%&()*+,-./:;<=>?[]^_`{|}~\"}")));
            var reconciler = new Reconciler(TemplateSet.Embedded(), new KeepalivedValidator(runner), new ExabgpValidator(runner), NoDaemons.Instance, new ConfigFiles(folder));
            var outcome = await reconciler.ReconcileAsync(FromYaml(Web), tuning, Node, null, PortableLb.Model.ServingFacts.Ungated, CancellationToken.None);
            Assert.That(outcome.Result, Is.EqualTo(ReconcileResult.Applied), string.Join("\n", outcome.Failures));
            Assert.That(File.GetUnixFileMode(reconciler.Files.PathOf(ConfigFiles.Exabgp)), Is.EqualTo(ConfigFiles.Exabgp.Mode));
            Assert.That(File.GetUnixFileMode(reconciler.Files.PathOf(ConfigFiles.Ipvs)), Is.EqualTo(ConfigFiles.Ipvs.Mode));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
