using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PortableLb.Common;

/// <summary>
/// Reads files that someone else can put in our way: the manifest folder, pid files on the shared volume. A FIFO
/// there would block an ordinary open (or read) for ever, wedging whoever reads it; so the file is opened without
/// blocking and read only if it is a regular file, up to a bound.
/// </summary>
public static partial class RegularFile
{
    /// <summary>The file's text (UTF-8).</summary>
    /// <param name="path">The file.</param>
    /// <param name="maxBytes">Larger files are refused unread.</param>
    /// <param name="followSymlinks">False refuses a symlink at the path itself (pid files); ConfigMap volumes need true.</param>
    /// <exception cref="IOException">Missing, not a regular file, unreadable, or larger than maxBytes.</exception>
    public static string ReadText(string path, long maxBytes, bool followSymlinks = true)
    {
        var fd = Open(path, ReadOnly | NonBlocking | CloseOnExec | (followSymlinks ? 0 : NoFollow));
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{path}: cannot be opened: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        // A FIFO, socket or terminal is not seekable; a directory fails at the read.
        using var stream = new FileStream(handle, FileAccess.Read, bufferSize: 0);
        if (!stream.CanSeek) throw new IOException($"{path}: is not a regular file");
        if (stream.Length > maxBytes) throw new IOException($"{path}: is larger than {maxBytes} bytes");
        var buffer = new byte[stream.Length];
        stream.ReadExactly(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer);
    }

    private const int ReadOnly = 0;
    private const int NonBlocking = 0x800;
    private const int CloseOnExec = 0x80000;

    // O_NOFOLLOW differs between architectures.
    private static readonly int NoFollow = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);
}
