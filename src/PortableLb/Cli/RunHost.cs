using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Apply;
using PortableLb.Common;
using PortableLb.Diagnostics;
using PortableLb.Kubernetes;
using PortableLb.Kubernetes.Config;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Validation;

namespace PortableLb.Cli;

/// <summary>The one place where `portable-lb run` is wired together: sources, loop, daemons and HTTP endpoints.</summary>
public static partial class RunHost
{
    /// <summary>The Lease, in the LB pods' namespace, whose holder writes Service status (the Role grants leases there).</summary>
    public const string LeaseName = "portable-lb";

    /// <param name="options">The checked flags.</param>
    /// <param name="cluster">The API server to watch; null with --objects.</param>
    /// <param name="watchedNamespace">The namespace the tuning ConfigMap, the password Secret and the Lease live in, and the Services unless --all-namespaces.</param>
    public static WebApplication Build(RunOptions options, ClusterConnection? cluster, string watchedNamespace)
    {
        var builder = WebHostSetup.Create(options.Listen);
        // Withdraw, drain (at most the limit), then stop: the host must not give up before that sequence ends.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.DrainLimit + TimeSpan.FromSeconds(30));

        var common = options.Common;
        var files = new ConfigFiles(options.ConfigDirectory);
        var templates = TemplateSet.Load(common.TemplatesDirectory);
        var services = builder.Services;
        services.AddSingleton<ReconcileStatus>();
        services.AddSingleton(provider => new MetricsWriter(provider.GetRequiredService<ReconcileStatus>()));
        services.AddSingleton<IProcessRunner, ProcessRunner>();
        services.AddSingleton<ISignalSender, LibcSignalSender>();
        if (cluster is not null)
        {
            services.AddSingleton(_ => new KubernetesClient(cluster));
            services.AddSingleton(provider => new KubernetesServiceEvents(
                provider.GetRequiredService<KubernetesClient>(), options.PodName, provider.GetRequiredService<ILogger<KubernetesServiceEvents>>()));
            services.AddSingleton<IServiceEventSink>(provider => provider.GetRequiredService<KubernetesServiceEvents>());
            services.AddWatched<KubernetesServiceEvents>("the Event recorder");
            // Every LB pod serves; one, elected on a Lease in its own namespace, writes the Services' status.
            services.AddSingleton(provider => new ServiceStatusPublisher(
                provider.GetRequiredService<KubernetesClient>(),
                new LeaderElector(provider.GetRequiredService<KubernetesClient>(), new LeaderElectionOptions(watchedNamespace, LeaseName, options.PodName),
                    provider.GetRequiredService<ILogger<LeaderElector>>(), provider.GetRequiredService<TimeProvider>()),
                provider.GetService<IServiceEventSink>(), provider.GetRequiredService<ReconcileStatus>().Registry, provider.GetRequiredService<ILogger<ServiceStatusPublisher>>()));
            services.AddWatched<ServiceStatusPublisher>("the Service status publisher");
        }
        services.AddSingleton<IClusterSource>(provider => cluster is null
            ? new ManifestFolderSource(common.Objects, provider.GetRequiredService<ILogger<ManifestFolderSource>>())
            : new KubernetesSource(provider.GetRequiredService<KubernetesClient>(), new KubernetesSourceOptions(watchedNamespace, options.ServiceSelector, common.TuningConfigMap?.Name)
            {
                BgpPasswordSecret = common.BgpPasswordSecret,
                AllNamespaces = options.AllNamespaces,
                WatchLbPods = true,
            }, provider.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(provider =>
        {
            var signaller = new PidFileReloader(
                new Dictionary<Daemon, string> { [Daemon.Keepalived] = options.KeepalivedPidFile, [Daemon.Exabgp] = options.ExabgpPidFile },
                provider.GetRequiredService<ISignalSender>());
            var witnesses = new Dictionary<Daemon, IReloadWitness>();
            if (templates.IpvsNamesReloadFile) witnesses[Daemon.Keepalived] = new KeepalivedReloadFileWitness(files.KeepalivedReload);
            else Log.ReloadsUnconfirmable(provider.GetRequiredService<ILogger<Reconciler>>());
            if (options.ExabgpLog is { } log) witnesses[Daemon.Exabgp] = new ExabgpLogWitness(log);
            var time = provider.GetRequiredService<TimeProvider>();
            // keepalived confirms through its reload_file within milliseconds; exabgp may ignore SIGUSR1 for as long
            // as a peer is unreachable, so it gets one short wait per pass and the loop's backoff between passes.
            var reloader = new CountingReloader(new ReloaderByDaemon(new Dictionary<Daemon, IDaemonReloader>
            {
                [Daemon.Keepalived] = new ConfirmingReloader(signaller, witnesses, time),
                [Daemon.Exabgp] = new ConfirmingReloader(signaller, witnesses, time, wait: TimeSpan.FromSeconds(1), attempts: 1),
            }), provider.GetRequiredService<ReconcileStatus>());
            var runner = provider.GetRequiredService<IProcessRunner>();
            var (keepalived, exabgp) = RememberingValidators.Create(runner);
            return new Reconciler(templates, keepalived, exabgp, reloader, files,
                options.ManageDataPlane ? new DataPlane(runner) : null);
        });
        // What this pod serves wakes the loop like a cluster change does: it shares the source's change signal.
        services.AddSingleton(provider => new ServingMonitor(options.KeepalivedPidFile, provider.GetRequiredService<IClusterSource>().Changes, provider.GetRequiredService<TimeProvider>()));
        services.AddWatched<ServingMonitor>("the serving monitor");
        services.AddSingleton(provider => new ReconcileLoop(
            provider.GetRequiredService<IClusterSource>(), CommonOptions.Tuning(common, watchedNamespace).CreateProvider(), provider.GetRequiredService<Reconciler>(),
            common.Node, common.Services, ReconcileLoopOptions.Default with { Debounce = options.Debounce }, provider.GetRequiredService<ReconcileStatus>(),
            provider.GetRequiredService<ILogger<ReconcileLoop>>(), events: provider.GetService<IServiceEventSink>(), serving: provider.GetRequiredService<ServingMonitor>(),
            statuses: cluster is null ? null : provider.GetRequiredService<ServiceStatusPublisher>(), story: new AnnouncementStory(options.PodName)));
        if (options.Keepalived == KeepalivedLayout.Supervise)
        {
            // Registered before the controller: hosted services stop in reverse order, so keepalived goes last,
            // after the routes are withdrawn and the grace period has passed.
            services.AddSingleton(provider => new KeepalivedSupervisor(
                new KeepalivedSupervisorOptions(files.PathOf(ConfigFiles.Ipvs), options.KeepalivedPidFile),
                provider.GetRequiredService<ISignalSender>(), provider.GetRequiredService<ILogger<KeepalivedSupervisor>>()));
            services.AddWatched<KeepalivedSupervisor>("the keepalived supervisor");
        }
        services.AddSingleton(provider => new ControllerService(provider.GetRequiredService<IClusterSource>(), provider.GetRequiredService<ReconcileLoop>(),
            provider.GetRequiredService<Reconciler>(),
            new ShutdownDrain(() => IpvsTraffic.IncomingPackets(), options.WithdrawGrace, options.DrainLimit, provider.GetRequiredService<TimeProvider>()),
            provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<ILogger<ControllerService>>()));
        services.AddWatched<ControllerService>("the controller");
        services.AddSingleton(provider => new Readiness(provider.GetRequiredService<IClusterSource>(), provider.GetRequiredService<ReconcileStatus>(),
            provider.GetRequiredService<ServingMonitor>(), provider.GetRequiredService<BackgroundFaults>(), options.KeepalivedPidFile, options.ExabgpPidFile));

        var app = builder.BuildWatched();
        app.MapHealthEndpoints();
        return app;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.ReloadsUnconfirmable, Level = LogLevel.Warning, Message = "ipvs.conf.scriban does not use reloadFile: keepalived reloads are signalled but not confirmed")]
        public static partial void ReloadsUnconfirmable(ILogger logger);
    }
}
