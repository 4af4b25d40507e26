using Microsoft.Extensions.Logging;
using PortableLb.Kubernetes;
using k8s.Models;

namespace PortableLb.Sources;

/// <summary>What to watch: the namespace, which Services (all, or by label), and the tuning ConfigMap's name.</summary>
public sealed record KubernetesSourceOptions(string Namespace, string? ServiceLabelSelector, string? TuningConfigMap)
{
    /// <summary>The Secret holding the BGP MD5 password; watched by name, so no other Secret is ever read.</summary>
    public string? BgpPasswordSecret { get; init; }

    public InformerOptions Informer { get; init; } = new();

    /// <summary>`run` needs the EndpointSlices; `node-routes` needs only the Services' addresses.</summary>
    public bool WatchEndpointSlices { get; init; } = true;

    /// <summary>For `node-routes`: watch the LB pods on this node (by label, and spec.nodeName as a field selector).</summary>
    public string? LbPodsOnNode { get; init; }

    /// <summary>For `run`: watch every LB pod in <see cref="Namespace"/> (by label), L2 mode's members.</summary>
    public bool WatchLbPods { get; init; }

    /// <summary>
    /// Services and EndpointSlices in every namespace (a ClusterRole grants it: manifests/overlays/all-namespaces);
    /// the tuning ConfigMap, the password Secret and the LB pods stay in <see cref="Namespace"/>, the LB pods' own.
    /// </summary>
    public bool AllNamespaces { get; init; }
}

/// <summary>
/// The cluster as PortableLb sees it: one informer each for Services, EndpointSlices, the tuning ConfigMap and the
/// BGP password Secret, all
/// feeding one change signal. Ready only when every informer has listed once, so nothing is rendered from a
/// half-known world.
/// </summary>
public sealed class KubernetesSource : IClusterSource
{
    private readonly Informer<V1Service> _services;
    /// <summary>The label every LB pod carries (manifests/base: the Deployment's pod template).</summary>
    public const string LbPodLabelKey = "app.kubernetes.io/name";

    public const string LbPodLabelValue = "portable-lb";

    private readonly Informer<V1EndpointSlice>? _slices;
    private readonly Informer<V1Pod>? _pods;
    private readonly Informer<V1ConfigMap>? _tuning;
    private readonly Informer<V1Secret>? _password;

    private readonly TimeProvider _time;

    public KubernetesSource(KubernetesClient client, KubernetesSourceOptions options, ILoggerFactory loggers, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        var informer = options.Informer with { Namespace = options.Namespace };
        var serviceScope = options.AllNamespaces ? informer with { Namespace = null } : informer;
        _services = new Informer<V1Service>(client, Resources.Services, serviceScope with { Selectors = new ListOptions(options.ServiceLabelSelector) }, loggers.CreateLogger("PortableLb.Informer.Services"), time);
        if (options.WatchEndpointSlices)
        {
            // Only slices that belong to some Service: the label the EndpointSlice controller always sets.
            _slices = new Informer<V1EndpointSlice>(client, Resources.EndpointSlices, serviceScope with { Selectors = new ListOptions(KubernetesModels.ServiceNameLabel) }, loggers.CreateLogger("PortableLb.Informer.EndpointSlices"), time);
            _slices.Changed += Changes.Set;
        }
        if (options.LbPodsOnNode is not null || options.WatchLbPods)
        {
            var onNode = options.LbPodsOnNode is { } node ? $"spec.nodeName={node}" : null;
            _pods = new Informer<V1Pod>(client, Resources.Pods, informer with { Selectors = new ListOptions($"{LbPodLabelKey}={LbPodLabelValue}", FieldSelector: onNode) }, loggers.CreateLogger("PortableLb.Informer.Pods"), time);
            _pods.Changed += Changes.Set;
        }
        if (options.TuningConfigMap is { } name)
        {
            _tuning = new Informer<V1ConfigMap>(client, Resources.ConfigMaps, informer with { Selectors = new ListOptions(FieldSelector: $"metadata.name={name}") }, loggers.CreateLogger("PortableLb.Informer.ConfigMaps"), time);
            _tuning.Changed += Changes.Set;
        }
        if (options.BgpPasswordSecret is { } secret)
        {
            _password = new Informer<V1Secret>(client, Resources.Secrets, informer with { Selectors = new ListOptions(FieldSelector: $"metadata.name={secret}") }, loggers.CreateLogger("PortableLb.Informer.Secrets"), time);
            _password.Changed += Changes.Set;
        }
        _services.Changed += Changes.Set;
        Ready = Task.WhenAll(new[] { _services.Ready, _slices?.Ready ?? Task.CompletedTask, _pods?.Ready ?? Task.CompletedTask, _tuning?.Ready ?? Task.CompletedTask, _password?.Ready ?? Task.CompletedTask });
    }

    public Task Ready { get; }
    public ChangeSignal Changes { get; } = new();

    public IReadOnlyList<SourceHealth> Health()
    {
        var now = _time.GetUtcNow();
        var parts = new List<(string Part, InformerFailure? Failure)> { ("services", _services.CurrentFailure) };
        if (_slices is not null) parts.Add(("endpointslices", _slices.CurrentFailure));
        if (_pods is not null) parts.Add(("pods", _pods.CurrentFailure));
        if (_tuning is not null) parts.Add(("configmaps", _tuning.CurrentFailure));
        if (_password is not null) parts.Add(("secrets", _password.CurrentFailure));
        return parts.Select(p => new SourceHealth(p.Part, p.Failure?.Error, p.Failure is { } f ? now - f.Since : TimeSpan.Zero)).ToList();
    }

    public ClusterSnapshot Snapshot() => new(_services.Items, _slices?.Items ?? [], _tuning?.Items ?? [], _password?.Items ?? [], _pods?.Items ?? []);

    /// <summary>Runs every informer; the first one to fail fails the source at once, not when the others end.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var running = new List<Task> { _services.RunAsync(cancellationToken) };
        if (_slices is not null) running.Add(_slices.RunAsync(cancellationToken));
        if (_pods is not null) running.Add(_pods.RunAsync(cancellationToken));
        if (_tuning is not null) running.Add(_tuning.RunAsync(cancellationToken));
        if (_password is not null) running.Add(_password.RunAsync(cancellationToken));
        while (running.Count > 0)
        {
            var done = await Task.WhenAny(running).ConfigureAwait(false);
            await done.ConfigureAwait(false);
            running.Remove(done);
        }
    }
}
