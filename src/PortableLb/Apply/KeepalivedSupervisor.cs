using System.ComponentModel;
using CliWrap;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PortableLb.Kubernetes;

namespace PortableLb.Apply;

public sealed record KeepalivedSupervisorOptions(string ConfigPath, string PidFile, string Program = "keepalived")
{
    public TimeSpan InitialRestartDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRestartDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A run this long counts as healthy: the next crash starts the backoff from the beginning.</summary>
    public TimeSpan HealthyRun { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The thesis layout: keepalived runs as our child in the ipvs container, in the foreground (-n) so we see it exit,
/// logging to our output. In bgp mode the config has no vrrp_instance, and keepalived then starts only its checker
/// process (ECMP does the redundancy); in L2 mode it starts its VRRP process too, when a reload first brings
/// instances, so a mode change needs no restart. It starts once the first validated
/// ipvs.conf exists, is restarted with backoff when it dies, and is stopped last on shutdown (the host stops hosted
/// services in reverse order, so it is registered before the controller).
/// </summary>
public sealed partial class KeepalivedSupervisor(KeepalivedSupervisorOptions options, ISignalSender signals, ILogger<KeepalivedSupervisor> logger, TimeProvider? time = null)
    : BackgroundService
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public int Starts { get; private set; }
    public int? Pid { get; private set; }

    /// <summary>
    /// keepalived's command line. Every pid file it may write goes beside the main one, on the shared volume: its
    /// defaults are in /run, which a read-only root filesystem refuses (keepalived then says "daemon is already
    /// running" and exits 0), and it opens them O_NOFOLLOW, so a symlink cannot redirect them.
    /// </summary>
    public static IReadOnlyList<string> Arguments(KeepalivedSupervisorOptions options)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(options.PidFile))!;
        return ["-n", "-l", "-D", "-f", options.ConfigPath, "-p", options.PidFile,
            "-c", Path.Combine(folder, "keepalived-checkers.pid"), "-r", Path.Combine(folder, "keepalived-vrrp.pid"), "-b", Path.Combine(folder, "keepalived-bfd.pid")];
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => RunAsync(stoppingToken);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(options.InitialRestartDelay, options.MaxRestartDelay);
        try
        {
            while (!File.Exists(options.ConfigPath)) await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                // Killing is the last resort of StopAsync, not the answer to our own shutdown: that is SIGTERM, so
                // keepalived removes what it programmed into IPVS before it goes.
                using var kill = new CancellationTokenSource();
                var run = Start(kill.Token);
                var started = _time.GetTimestamp();
                CommandResult result;
                try
                {
                    result = await run.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    await StopAsync(run, kill).ConfigureAwait(false);
                    return;
                }
                Pid = null;
                if (_time.GetElapsedTime(started) >= options.HealthyRun) backoff.Reset();
                var delay = backoff.Next();
                Log.Exited(logger, result.ExitCode, delay.TotalSeconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private CommandTask<CommandResult> Start(CancellationToken kill)
    {
        var output = PipeTarget.ToDelegate(line => { if (line.Length > 0) Log.Output(logger, line); });
        var command = CliWrap.Cli.Wrap(options.Program)
            .WithArguments(Arguments(options))
            .WithStandardInputPipe(PipeSource.Null)
            .WithStandardOutputPipe(output)
            .WithStandardErrorPipe(output)
            .WithValidation(CommandResultValidation.None);
        CommandTask<CommandResult> run;
        try
        {
            run = command.ExecuteAsync(kill);
        }
        catch (Win32Exception e)
        {
            throw new Common.MissingProgramException(options.Program, e);
        }
        Starts++;
        Pid = run.ProcessId;
        Log.Started(logger, run.ProcessId, string.Join(" ", Arguments(options)));
        return run;
    }

    private async Task StopAsync(CommandTask<CommandResult> run, CancellationTokenSource kill)
    {
        if (!run.Task.IsCompleted)
        {
            signals.Send(new DaemonProcess(Daemon.Keepalived, run.ProcessId), Signal.Terminate);
            try
            {
                await run.Task.WaitAsync(options.StopTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await kill.CancelAsync().ConfigureAwait(false);
            }
            try
            {
                await run.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Our own kill, above.
            }
        }
        Pid = null;
        Log.Stopped(logger);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.KeepalivedStarted, Level = LogLevel.Information, Message = "Started keepalived (pid {Pid}): keepalived {Arguments}")]
        public static partial void Started(ILogger logger, int pid, string arguments);

        [LoggerMessage(EventId = LogEvents.KeepalivedExited, Level = LogLevel.Error, Message = "keepalived exited with code {ExitCode}; restarting in {Seconds:0.0} s")]
        public static partial void Exited(ILogger logger, int exitCode, double seconds);

        [LoggerMessage(EventId = LogEvents.KeepalivedOutput, Level = LogLevel.Information, Message = "keepalived: {Line}")]
        public static partial void Output(ILogger logger, string line);

        [LoggerMessage(EventId = LogEvents.KeepalivedStopped, Level = LogLevel.Information, Message = "Stopped keepalived")]
        public static partial void Stopped(ILogger logger);
    }
}
