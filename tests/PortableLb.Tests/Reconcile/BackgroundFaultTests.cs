using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using PortableLb.Apply;
using PortableLb.Cli;
using PortableLb.Common;
using PortableLb.Model;
using PortableLb.Reconcile;
using PortableLb.Rendering;
using PortableLb.Sources;
using PortableLb.Tuning;
using PortableLb.Validation;

namespace PortableLb.Tests.Reconcile;

/// <summary>
/// A background task that dies must be seen at once, not at shutdown: the manifest watcher once died silently and
/// the process went on answering /healthz 200, applying nothing, and exited 0 at SIGTERM.
/// </summary>
[CancelAfter(20_000)]
public sealed class BackgroundFaultTests
{
    /// <summary>Ready at once, then dies the way an unforeseen bug would.</summary>
    private sealed class DyingSource : IClusterSource
    {
        public Task Ready => Task.CompletedTask;
        public ChangeSignal Changes { get; } = new();
        public ClusterSnapshot Snapshot() => ClusterSnapshot.Empty;
        public IReadOnlyList<SourceHealth> Health() => [];

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            await Task.Delay(50, cancellationToken);
            throw new InvalidOperationException("the watcher broke");
        }
    }

    private sealed class Forever : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Delay(Timeout.Infinite, stoppingToken);
    }

    [Test]
    public async Task A_source_that_dies_while_the_loop_waits_is_recorded_at_once_and_stops_the_process()
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-fault-").FullName;
        try
        {
            var source = new DyingSource();
            var reconciler = new Reconciler(TemplateSet.Embedded(), new SkippedValidation("keepalived"), new SkippedValidation("exabgp"), NoDaemons.Instance, new ConfigFiles(folder));
            var loop = new ReconcileLoop(source, new TuningChoice().CreateProvider(), reconciler, NodeAddresses.None, null, ReconcileLoopOptions.Default,
                new ReconcileStatus(), NullLogger<ReconcileLoop>.Instance);
            var controller = new ControllerService(source, loop, reconciler, new ShutdownDrain(() => null, TimeSpan.Zero, TimeSpan.Zero, TimeProvider.System), TimeProvider.System, NullLogger<ControllerService>.Instance);
            var faults = new BackgroundFaults(NullLogger<BackgroundFaults>.Instance);
            var stopRequested = new TaskCompletionSource();
            faults.Faulted += () => stopRequested.TrySetResult();
            var hosted = new WatchedService(controller, "the controller", faults);

            await hosted.StartAsync(CancellationToken.None);
            await stopRequested.Task.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.That(faults.All.Single().Task, Is.EqualTo("the controller"));
            Assert.That(faults.All.Single().Error.Message, Is.EqualTo("the watcher broke"));
            await hosted.StopAsync(CancellationToken.None);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public async Task A_service_stopped_on_request_is_not_a_fault()
    {
        var faults = new BackgroundFaults(NullLogger<BackgroundFaults>.Instance);
        using var hosted = new WatchedService(new Forever(), "forever", faults);
        await hosted.StartAsync(CancellationToken.None);
        await hosted.StopAsync(CancellationToken.None);
        Assert.That(faults.Any, Is.False);
    }
}
