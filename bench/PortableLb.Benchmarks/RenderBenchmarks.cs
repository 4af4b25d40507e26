using BenchmarkDotNet.Attributes;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;

namespace PortableLb.Benchmarks;

/// <summary>
/// The render pipeline, stage by stage, at 1k and 10k endpoints. Each iteration is one operation (Monitoring
/// strategy, one invocation), so Median and P99 are per-operation figures, not averages of batches.
/// </summary>
[Config(typeof(PortableLbGcConfig))]
[MemoryDiagnoser]
public class RenderBenchmarks
{
    private ClusterSnapshot _snapshot = ClusterSnapshot.Empty;
    private TuningSettings _tuning = TuningSettings.Default;
    private readonly NodeAddresses _node = new(System.Net.IPAddress.Parse("198.18.255.1"), null, System.Net.IPAddress.Parse("198.18.254.1"), null);
    private readonly ConfigRenderer _renderer = new(TemplateSet.Embedded());
    private readonly KeepalivedValidator _keepalived = new(new ProcessRunner());
    private readonly ExabgpValidator _exabgp = new(new ProcessRunner());
    private RenderedConfigs _configs = new("", "");
    private byte[][] _alternatives = [];
    private ClusterSnapshot[] _oneChanged = [];
    private ClusterSnapshot[] _allChanged = [];
    private int _renders;
    private string _folder = "";
    private int _writes;

    [Params(1_000, 10_000)]
    public int Endpoints { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _snapshot = ManifestReader.ReadText(SyntheticCluster.Manifests(Endpoints), "bench").Snapshot;
        _tuning = TuningParser.Parse(SyntheticCluster.Tuning, "bench").Tuning!;
        _configs = _renderer.Render(DesiredStateBuilder.Build(_snapshot, _tuning, _node).State);
        var other = ManifestReader.ReadText(SyntheticCluster.Manifests(Endpoints, generation: 1), "bench").Snapshot;
        _oneChanged = [_snapshot, other];
        _allChanged = [_snapshot, ManifestReader.ReadText(SyntheticCluster.Manifests(Endpoints, generation: 1, changeEveryService: true), "bench").Snapshot];
        _alternatives =
        [
            System.Text.Encoding.UTF8.GetBytes(_configs.IpvsConf),
            System.Text.Encoding.UTF8.GetBytes(_renderer.Render(DesiredStateBuilder.Build(other, _tuning, _node).State).IpvsConf),
        ];
        _folder = Directory.CreateTempSubdirectory("portable-lb-bench-").FullName;
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    /// <summary>The controller's common case: one pod replaced, so one of ten virtual servers is rendered anew.</summary>
    [Benchmark(Description = "build + render, one endpoint changed")]
    public RenderedConfigs BuildAndRenderOneChange() => _renderer.Render(DesiredStateBuilder.Build(_oneChanged[_renders++ % 2], _tuning, _node).State);

    /// <summary>Every virtual server changed, so nothing comes from the memo cache: the cold cost.</summary>
    [Benchmark(Description = "build + render, all changed")]
    public RenderedConfigs BuildAndRenderAllChanged() => _renderer.Render(DesiredStateBuilder.Build(_allChanged[_renders++ % 2], _tuning, _node).State);

    [Benchmark(Description = "validate (keepalived -t ‖ exabgp --test)")]
    public async Task<bool> Validate()
    {
        // As the controller checks a candidate whose two files both changed: in parallel.
        var verdicts = await Task.WhenAll(_keepalived.ValidateAsync(_configs.IpvsConf, CancellationToken.None), _exabgp.ValidateAsync(_configs.ExabgpConf, CancellationToken.None));
        return verdicts.All(v => v.IsValid);
    }

    [Benchmark(Description = "validate (keepalived -t only)")]
    public async Task<bool> ValidateKeepalived() => (await new KeepalivedValidator(new ProcessRunner()).ValidateAsync(_configs.IpvsConf, CancellationToken.None)).IsValid;

    [Benchmark(Description = "atomic write of changed ipvs.conf")]
    public Task<WriteOutcome> Write() => AtomicFileWriter.WriteAsync(Path.Combine(_folder, "ipvs.conf"), _alternatives[_writes++ % 2], ConfigFiles.Ipvs.Mode);

    [Benchmark(Description = "atomic write, bytes unchanged")]
    public Task<WriteOutcome> WriteUnchanged() => AtomicFileWriter.WriteAsync(Path.Combine(_folder, "same.conf"), _alternatives[0], ConfigFiles.Ipvs.Mode);
}
