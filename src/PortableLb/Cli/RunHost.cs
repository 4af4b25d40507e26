using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Apply;
using PortableLb.Diagnostics;
using PortableLb.Kubernetes;
using PortableLb.Kubernetes.Config;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Validation;

namespace PortableLb.Cli;

/// <summary>The one place where `portable-lb run` is wired together: sources, loop, daemons and HTTP endpoints.</summary>
public static class RunHost
{
    public static WebApplication Build(RunOptions options, NodeAddresses node, IReadOnlyList<string>? args = null)
    {
        // The empty builder reads no appsettings.json. The slim one watches it with reloadOnChange under the content
        // root, which is the working directory: "/" in the image, so it put an inotify watch on every directory of
        // the container (minutes of start-up under emulation, and the node's inotify watches gone for the manifest
        // folder's own watcher). Everything here is configured by flags.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [.. args ?? []] });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(options.Listen));
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders().AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        // One line per probe every few seconds would drown the controller's own log.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Withdraw, wait the grace period, then stop: the host must not give up before that sequence ends.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.WithdrawGrace + TimeSpan.FromSeconds(30));

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ReconcileStatus>();
        services.AddSingleton<IProcessRunner, ProcessRunner>();
        services.AddSingleton<ISignalSender, LibcSignalSender>();
        services.AddSingleton<IClusterSource>(provider => CreateSource(options, provider));
        if (options.Objects.Count == 0)
        {
            services.AddSingleton(provider => new KubernetesClient(ClusterConfig.Load(options.Kubeconfig, options.Context, provider.GetRequiredService<TimeProvider>())));
            services.AddSingleton<IServiceEventSink>(provider => new KubernetesServiceEvents(
                provider.GetRequiredService<KubernetesClient>(), Environment.MachineName, provider.GetRequiredService<ILogger<KubernetesServiceEvents>>()));
        }
        services.AddSingleton<ITuningProvider>(provider =>
        {
            ITuningProvider tuning = options switch
            {
                { TuningFile: { } file } => new FileTuning(file),
                { TuningConfigMap: { } configMap } => new ConfigMapTuning(configMap.Namespace, configMap.Name),
                _ => new NoTuning(),
            };
            if (options.BgpPasswordSecret is not { } secret) return tuning;
            var (ns, name) = options.Objects.Count > 0
                ? secret.Split('/', 2) is [var n, var s] ? (n, s) : ("default", secret)
                : (WatchedNamespace(options, provider.GetRequiredService<KubernetesClient>()), secret);
            return new BgpPasswordTuning(tuning, ns, name);
        });
        services.AddSingleton(_ => options.TemplatesDirectory is null ? TemplateSet.Embedded() : TemplateSet.FromDirectory(options.TemplatesDirectory));
        services.AddSingleton<IDaemonReloader>(provider =>
        {
            IDaemonReloader signaller = new PidFileReloader(
                new Dictionary<Daemon, string> { [Daemon.Keepalived] = options.KeepalivedPidFile, [Daemon.Exabgp] = options.ExabgpPidFile },
                provider.GetRequiredService<ISignalSender>());
            var witnesses = new Dictionary<Daemon, IReloadWitness>();
            if (provider.GetRequiredService<TemplateSet>().IpvsNamesReloadFile) witnesses[Daemon.Keepalived] = new KeepalivedReloadFileWitness(KeepalivedReloadFile(options));
            else provider.GetRequiredService<ILogger<ConfirmingReloader>>().LogWarning("ipvs.conf.hbs does not use reloadFile: keepalived reloads are signalled but not confirmed");
            if (options.ExabgpLog is { } log) witnesses[Daemon.Exabgp] = new ExabgpLogWitness(log);
            return new CountingReloader(new ConfirmingReloader(signaller, witnesses, provider.GetRequiredService<TimeProvider>()), provider.GetRequiredService<ReconcileStatus>());
        });
        services.AddSingleton(provider =>
        {
            var runner = provider.GetRequiredService<IProcessRunner>();
            var dataPlane = options.ManageDataPlane ? new DataPlane(runner) : null;
            var renderer = new ConfigRenderer(provider.GetRequiredService<TemplateSet>(), KeepalivedReloadFile(options));
            return new Reconciler(renderer, new KeepalivedValidator(runner), new RouteOnlyChangeValidator(new ExabgpValidator(runner)), provider.GetRequiredService<IDaemonReloader>(), options.ConfigDirectory, dataPlane);
        });
        services.AddSingleton(provider => new ReconcileLoop(
            provider.GetRequiredService<IClusterSource>(), provider.GetRequiredService<ITuningProvider>(), provider.GetRequiredService<Reconciler>(), node,
            options.Services, ReconcileLoopOptions.Default with { Debounce = options.Debounce }, provider.GetRequiredService<ReconcileStatus>(),
            provider.GetRequiredService<ILogger<ReconcileLoop>>(), events: provider.GetService<IServiceEventSink>()));
        if (options.Keepalived == KeepalivedLayout.Supervise)
        {
            services.AddSingleton(provider => new KeepalivedSupervisor(
                new KeepalivedSupervisorOptions(Path.Combine(options.ConfigDirectory, "ipvs.conf"), options.KeepalivedPidFile),
                provider.GetRequiredService<ISignalSender>(), provider.GetRequiredService<ILogger<KeepalivedSupervisor>>()));
            // Registered before the controller: hosted services stop in reverse order, so keepalived goes last,
            // after the routes are withdrawn and the grace period has passed.
            services.AddHostedService(provider => new SupervisorService(provider.GetRequiredService<KeepalivedSupervisor>()));
        }
        services.AddSingleton<ControllerService>();
        services.AddHostedService(provider => provider.GetRequiredService<ControllerService>());

        var app = builder.Build();
        MapEndpoints(app);
        return app;
    }

    /// <summary>keepalived's reload_file: on the shared volume, beside the config it guards.</summary>
    public static string KeepalivedReloadFile(RunOptions options) => Path.Combine(Path.GetFullPath(options.ConfigDirectory), "keepalived.reload");

    private static IClusterSource CreateSource(RunOptions options, IServiceProvider provider)
    {
        var loggers = provider.GetRequiredService<ILoggerFactory>();
        if (options.Objects.Count > 0) return new ManifestFolderSource(options.Objects, loggers.CreateLogger<ManifestFolderSource>());
        var client = provider.GetRequiredService<KubernetesClient>();
        var ns = WatchedNamespace(options, client);
        var tuningName = options.TuningConfigMap is { } configMap && configMap.Namespace == ns ? configMap.Name : null;
        if (options.TuningConfigMap is { } other && other.Namespace != ns)
        {
            throw new InvalidOperationException($"--tuning-configmap {other.Namespace}/{other.Name} is outside the watched namespace {ns}");
        }
        if (options.BgpPasswordSecret?.Contains('/', StringComparison.Ordinal) == true)
        {
            throw new InvalidOperationException($"--bgp-password-secret {options.BgpPasswordSecret}: give the Secret's NAME; it is read from the watched namespace {ns}");
        }
        return new KubernetesSource(client, new KubernetesSourceOptions(ns, options.ServiceSelector, tuningName) { BgpPasswordSecret = options.BgpPasswordSecret }, loggers);
    }

    /// <summary>A namespaced Role: the Services named, else the namespace of the pod's service account or kubeconfig context.</summary>
    private static string WatchedNamespace(RunOptions options, KubernetesClient client) => options.Services.Select(s => s.Namespace).Distinct().ToList() switch
    {
        [var only] => only,
        [] => client.Endpoint.Namespace ?? "default",
        var many => throw new InvalidOperationException($"--service names several namespaces ({string.Join(", ", many)}); one LB Deployment serves one namespace"),
    };

    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/healthz", (ControllerService controller) => controller.Faulted is { } fault
            ? Results.Text($"controller stopped: {fault.Message}\n", statusCode: StatusCodes.Status500InternalServerError)
            : Results.Text("ok\n"));

        app.MapGet("/readyz", (IClusterSource source, ReconcileStatus status, RunOptions options) =>
        {
            var problems = new List<string>();
            if (!source.Ready.IsCompletedSuccessfully) problems.Add("the cluster sources have not completed their first read");
            if (status.LastAttempt is null) problems.Add("no reconcile has run yet");
            if (status.LastFailure is { } failure) problems.Add($"the last apply failed: {failure}");
            if (PidFile.Find(options.KeepalivedPidFile, Daemon.Keepalived) is null) problems.Add($"keepalived is not running (no live pid in {options.KeepalivedPidFile})");
            var bgpOn = status.LastOutcome?.Build.State.Bgp is not null;
            if (bgpOn && PidFile.Find(options.ExabgpPidFile, Daemon.Exabgp) is null) problems.Add($"exabgp is not running (no live pid in {options.ExabgpPidFile})");
            return problems.Count == 0
                ? Results.Text("ready\n")
                : Results.Text(string.Join("\n", problems) + "\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });

        app.MapGet("/metrics", (IClusterSource source, ReconcileStatus status) =>
            Results.Text(MetricsWriter.Write(status, source.Ready.IsCompletedSuccessfully), MetricsWriter.ContentType));
    }
}

/// <summary>Keeps the supervised keepalived running until the host stops it.</summary>
public sealed class SupervisorService(KeepalivedSupervisor supervisor) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => supervisor.RunAsync(stoppingToken);
}

/// <summary>Runs the source and the reconcile loop; on shutdown withdraws the announcements and waits for the network.</summary>
public sealed partial class ControllerService(IClusterSource source, ReconcileLoop loop, Reconciler reconciler, RunOptions options, ILogger<ControllerService> logger, TimeProvider time)
    : BackgroundService
{
    public Exception? Faulted { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.WhenAll(source.RunAsync(stoppingToken), loop.RunAsync(stoppingToken)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Faulted = e;
            Log.Crashed(logger, e);
            throw;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Log.Withdrawing(logger);
        if (await reconciler.WithdrawAsync(cancellationToken).ConfigureAwait(false))
        {
            Log.Waiting(logger, options.WithdrawGrace.TotalSeconds);
            await Task.Delay(options.WithdrawGrace, time, cancellationToken).ConfigureAwait(false);
        }
        Log.Stopped(logger);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Shutting down: withdrawing every announcement")]
        public static partial void Withdrawing(ILogger logger);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Announcements withdrawn; keepalived keeps serving for {Seconds} s while routers converge")]
        public static partial void Waiting(ILogger logger, double seconds);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Stopped")]
        public static partial void Stopped(ILogger logger);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Critical, Message = "The controller stopped")]
        public static partial void Crashed(ILogger logger, Exception error);
    }
}
