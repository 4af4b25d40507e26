using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace PortableLb.Testing;

/// <summary>
/// A QEMU guest running Debian's kernel (which has IPVS; this machine's does not) that a test drives step by step:
/// tests/vm/vm-host.sh boots it with tests/vm/vm-agent.sh as PID 1, and commands go over a virtio-serial port. The
/// guest sees this machine's / read-only (with a tmpfs on top), so every installed program runs there unchanged;
/// <see cref="Results"/> is shared read-write at the same path on both sides. The guest reaches this machine's
/// loopback as 10.0.2.2, and nothing else. Disposing powers it off.
/// </summary>
public sealed class VmSession : IAsyncDisposable
{
    private readonly Process _qemu;
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly StringBuilder _console = new();
    private int _next;

    private VmSession(Process qemu, Socket socket, string results)
    {
        _qemu = qemu;
        _socket = socket;
        Results = results;
        var stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(stream, Encoding.ASCII);
        _writer = new StreamWriter(stream, Encoding.ASCII) { AutoFlush = true, NewLine = "\n" };
        qemu.OutputDataReceived += (_, e) => Append(e.Data);
        qemu.ErrorDataReceived += (_, e) => Append(e.Data);
    }

    /// <summary>A folder both sides read and write, at this same path in the guest.</summary>
    public string Results { get; }

    /// <summary>vm-host.sh's steps and the guest kernel's console, for failure messages.</summary>
    public string Console
    {
        get
        {
            lock (_console) return _console.ToString();
        }
    }

    public static async Task<VmSession> StartAsync(int memoryMiB = 4096, CancellationToken cancellationToken = default)
    {
        var results = Directory.CreateTempSubdirectory("plb-vm-").FullName;
        // Daemons that drop to their own user (FRR) work in subfolders: they must be able to pass through.
        File.SetUnixFileMode(results, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var socketPath = Path.Combine(results, "agent.sock");
        var start = new ProcessStartInfo("bash",
        [
            Repository.Path("tests", "vm", "vm-host.sh"), Repository.Path(".cache", "vm"), results, Repository.Path("tests", "vm", "vm-agent.sh"),
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["VM_AGENT"] = socketPath;
        start.Environment["VM_NET"] = "user";
        start.Environment["VM_MEMORY"] = memoryMiB.ToString(CultureInfo.InvariantCulture);
        start.Environment["VM_TIMEOUT"] = "3600";
        var qemu = Process.Start(start)!;
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        VmSession? session = null;
        try
        {
            // vm-host.sh may first fetch the kernel and build the initramfs; QEMU creates the socket once it runs.
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                if (qemu.HasExited) throw new InvalidOperationException($"the VM exited {qemu.ExitCode} before its agent socket appeared: {await qemu.StandardError.ReadToEndAsync(cancellationToken)}");
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    break;
                }
                catch (SocketException) when (deadline.Elapsed < TimeSpan.FromMinutes(5))
                {
                    await Task.Delay(200, cancellationToken);
                }
            }
            session = new VmSession(qemu, socket, results);
            qemu.BeginOutputReadLine();
            qemu.BeginErrorReadLine();
            using var boot = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            boot.CancelAfter(TimeSpan.FromMinutes(5));
            string? line;
            do
            {
                line = await session._reader.ReadLineAsync(boot.Token);
            }
            while (line is not null && line != "READY");
            if (line is null) throw new InvalidOperationException($"the VM's agent never said READY\n{session.Console}");
            return session;
        }
        catch
        {
            if (session is not null) await session.DisposeAsync();
            else
            {
                socket.Dispose();
                if (!qemu.HasExited) qemu.Kill(entireProcessTree: true);
                qemu.Dispose();
                Directory.Delete(results, recursive: true);
            }
            throw;
        }
    }

    /// <summary>Runs a bash script in the guest (as root, in its root network namespace) and returns its exit code and output.</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var seconds = (int)Math.Ceiling((timeout ?? TimeSpan.FromMinutes(2)).TotalSeconds);
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            var id = ++_next;
            await _writer.WriteLineAsync($"RUN {id} {seconds} {Convert.ToBase64String(Encoding.UTF8.GetBytes(script))}".AsMemory(), cancellationToken);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // The guest kills the script after `seconds`; a guest that does not answer after that is gone.
            deadline.CancelAfter(TimeSpan.FromSeconds(seconds + 60));
            while (true)
            {
                var line = await _reader.ReadLineAsync(deadline.Token) ?? throw new InvalidOperationException($"the VM closed its agent port\n{Tail(Console, 40)}");
                var fields = line.Split(' ');
                if (fields is ["DONE", var answered, var exit, var output] && answered == id.ToString(CultureInfo.InvariantCulture))
                {
                    return (int.Parse(exit, CultureInfo.InvariantCulture), Encoding.UTF8.GetString(Convert.FromBase64String(output)));
                }
            }
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>Runs a set-up script that must succeed; a failure throws with its output.</summary>
    public async Task<string> MustAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var (exitCode, output) = await RunAsync(script, timeout, cancellationToken);
        if (exitCode != 0) throw new InvalidOperationException($"exited {exitCode} in the VM:\n{script}\n--- output\n{output}");
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _writer.WriteLineAsync("POWEROFF");
        }
        catch (IOException)
        {
            // Already gone.
        }
        try
        {
            await _qemu.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            _qemu.Kill(entireProcessTree: true);
        }
        _socket.Dispose();
        _qemu.Dispose();
        _oneAtATime.Dispose();
        Directory.Delete(Results, recursive: true);
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_console) _console.Append(line).Append('\n');
    }

    private static string Tail(string text, int lines) => string.Join("\n", text.Split('\n').TakeLast(lines));
}
