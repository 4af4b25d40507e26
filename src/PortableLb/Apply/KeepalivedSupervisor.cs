using System.ComponentModel;
using System.Diagnostics;
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
/// The thesis layout: keepalived runs as our child in the ipvs container, checkers only (-C, no VRRP: ECMP does the
/// redundancy), in the foreground (-n) so we see it exit, logging to our output. It starts once the first validated
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
        return ["-n", "-C", "-l", "-D", "-f", options.ConfigPath, "-p", options.PidFile,
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
                using var process = Start();
                var started = _time.GetTimestamp();
                try
                {
                    await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    await StopAsync(process).ConfigureAwait(false);
                    return;
                }
                Pid = null;
                if (_time.GetElapsedTime(started) >= options.HealthyRun) backoff.Reset();
                var delay = backoff.Next();
                Log.Exited(logger, process.ExitCode, delay.TotalSeconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private Process Start()
    {
        var start = new ProcessStartInfo(options.Program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in Arguments(options)) start.ArgumentList.Add(argument);
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Log.Output(logger, line); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Log.Output(logger, line); };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            process.Dispose();
            throw new Common.MissingProgramException(options.Program, e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Starts++;
        Pid = process.Id;
        Log.Started(logger, process.Id, string.Join(" ", Arguments(options)));
        return process;
    }

    private async Task StopAsync(Process process)
    {
        if (process.HasExited) return;
        signals.Send(new DaemonProcess(Daemon.Keepalived, process.Id), Signal.Terminate);
        try
        {
            await process.WaitForExitAsync().WaitAsync(options.StopTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
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
