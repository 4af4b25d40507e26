namespace PortableLb.Apply;

public enum WriteOutcome { Unchanged, Written }

/// <summary>
/// Replaces a file so that a daemon reading it sees the old bytes or the new bytes, never a mix: the new text goes
/// to a temp file in the same folder (rename is only atomic within a filesystem), is flushed to disk, then renamed
/// over the target. Equal bytes are not written at all, so an unchanged config costs no write and no reload.
/// </summary>
public static class AtomicFileWriter
{
    /// <summary>Writes `content` with `mode` (umask aside). Equal bytes are left alone, but get `mode` if they had another.</summary>
    public static async Task<WriteOutcome> WriteAsync(string path, ReadOnlyMemory<byte> content, UnixFileMode mode, CancellationToken cancellationToken = default)
    {
        var fullPath = Path.GetFullPath(path);
        if (await HasContentAsync(fullPath, content, cancellationToken).ConfigureAwait(false))
        {
            // A mode fix needs no reload: the daemon already has these bytes.
            if (File.GetUnixFileMode(fullPath) != mode) File.SetUnixFileMode(fullPath, mode);
            return WriteOutcome.Unchanged;
        }

        var directory = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                UnixCreateMode = mode,
            };
            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        return WriteOutcome.Written;
    }

    public static Task<WriteOutcome> WriteAsync(string path, string text, UnixFileMode mode, CancellationToken cancellationToken = default) =>
        WriteAsync(path, System.Text.Encoding.UTF8.GetBytes(text), mode, cancellationToken);

    /// <summary>Whether the file holds exactly this text: the test for a file changed or deleted behind our back.</summary>
    public static Task<bool> HoldsAsync(string path, string text, CancellationToken cancellationToken = default) =>
        HasContentAsync(Path.GetFullPath(path), System.Text.Encoding.UTF8.GetBytes(text), cancellationToken);

    private static async Task<bool> HasContentAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length != content.Length) return false;
        var existing = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        return existing.AsSpan().SequenceEqual(content.Span);
    }
}
