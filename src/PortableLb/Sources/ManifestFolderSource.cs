using Microsoft.Extensions.Logging;
using k8s;
using k8s.Models;

namespace PortableLb.Sources;

/// <summary>
/// The cluster read from manifest files: the embedded default for laptops, and for users who generate manifests by
/// other means. A FileSystemWatcher notices edits at once; a slow poll catches what it misses (network filesystems,
/// ConfigMap volumes that swap a symlink). A file with a broken document keeps its last good objects, so a
/// half-saved edit never withdraws a Service.
/// </summary>
public sealed partial class ManifestFolderSource(IReadOnlyList<string> paths, ILogger<ManifestFolderSource> logger, TimeSpan? pollInterval = null) : IClusterSource
{
    private readonly TimeSpan _poll = pollInterval ?? TimeSpan.FromSeconds(10);
    private readonly ChangeSignal _rescan = new();
    private readonly Dictionary<string, FileState> _files = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile ClusterSnapshot _snapshot = ClusterSnapshot.Empty;

    public Task Ready => _ready.Task;
    public ChangeSignal Changes { get; } = new();
    public ClusterSnapshot Snapshot() => _snapshot;

    private volatile ScanFailure? _scanFailure;

    private sealed record ScanFailure(long Since, string Error);

    public IReadOnlyList<SourceHealth> Health() => _scanFailure is { } failure
        ? [new SourceHealth("manifests", failure.Error, System.Diagnostics.Stopwatch.GetElapsedTime(failure.Since))]
        : [new SourceHealth("manifests", null, TimeSpan.Zero)];

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var watchers = new WatcherSet(paths, _rescan.Set, (folder, error) => Log.WatchFailed(logger, folder, _poll.TotalSeconds, error));
        Rescan();
        _ready.TrySetResult();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (await _rescan.WaitAsync(_poll, cancellationToken).ConfigureAwait(false))
                {
                    // Editors save in several steps (truncate, write, rename); let them finish.
                    await Task.Delay(TimeSpan.FromMilliseconds(30), cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                Rescan();
                _scanFailure = null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A folder that vanished or lost its permissions mid-scan: the last snapshot stays, the poll retries.
                Log.ScanFailed(logger, _poll.TotalSeconds, e);
                _scanFailure = new ScanFailure(_scanFailure?.Since ?? System.Diagnostics.Stopwatch.GetTimestamp(), e.Message);
            }
        }
    }

    /// <summary>Re-reads files whose size or time changed, and signals when the set of objects changed.</summary>
    internal void Rescan()
    {
        var errors = new List<ManifestError>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var changed = false;
        foreach (var file in ManifestReader.ExpandPaths(paths, errors))
        {
            seen.Add(file);
            var stamp = Stamp(file);
            if (_files.TryGetValue(file, out var known) && known.Stamp == stamp)
            {
                errors.AddRange(known.Errors);
                continue;
            }
            var read = ReadFile(file);
            // Once per change of the file: an unchanged file is not read again, so its errors are not repeated.
            foreach (var error in read.Errors) Log.Rejected(logger, error.ToString());
            foreach (var warning in read.Warnings) Log.Skipped(logger, warning.ToString());
            var objects = Objects(read.Snapshot);
            if (read.Errors.Count > 0 && known is not null)
            {
                // Keep what the file said last time it was whole.
                objects = known.Objects;
                Log.KeptLastGood(logger, file, read.Errors.Count);
            }
            _files[file] = new FileState(stamp, objects, read.Errors);
            errors.AddRange(read.Errors);
            changed |= known is null || !ReferenceEquals(known.Objects, objects);
        }
        foreach (var removed in _files.Keys.Where(f => !seen.Contains(f)).ToList())
        {
            _files.Remove(removed);
            changed = true;
        }
        if (!changed && _snapshot != ClusterSnapshot.Empty) return;

        var all = ManifestSet.From(_files.OrderBy(f => f.Key, StringComparer.Ordinal).SelectMany(f => f.Value.Objects), [], 0).Snapshot;
        _snapshot = all;
        Log.Read(logger, _files.Count, all.Services.Count, all.EndpointSlices.Count, errors.Count);
        Changes.Set();
    }

    /// <summary>
    /// One file, whatever it holds: any failure to read it becomes that file's error. The reader already turns every
    /// known kind of bad input into errors; this is the guarantee that an unforeseen one costs a file, not the source.
    /// </summary>
    private static ManifestSet ReadFile(string file)
    {
        try
        {
            return ManifestReader.ReadPaths([file]);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return ManifestSet.From([], [new ManifestError(file, 0, $"cannot be read ({e.GetType().Name}): {e.Message}")], 0);
        }
    }

    private static IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Objects(ClusterSnapshot snapshot) =>
        [.. snapshot.Services, .. snapshot.EndpointSlices, .. snapshot.ConfigMaps, .. snapshot.Secrets, .. snapshot.Pods];

    private static (long, DateTime) Stamp(string file)
    {
        var info = new FileInfo(file);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc) : (-1, default);
    }

    private sealed record FileState((long Length, DateTime Written) Stamp, IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Objects, IReadOnlyList<ManifestError> Errors);

    /// <summary>One FileSystemWatcher per watched folder (a file is watched through its folder).</summary>
    private sealed class WatcherSet : IDisposable
    {
        private readonly List<FileSystemWatcher> _watchers = [];

        public WatcherSet(IEnumerable<string> paths, Action changed, Action<string, Exception> failed)
        {
            foreach (var folder in paths.Select(p => Directory.Exists(p) ? p : Path.GetDirectoryName(Path.GetFullPath(p))!).Distinct())
            {
                if (!Directory.Exists(folder)) continue;
                var watcher = new FileSystemWatcher(folder)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.DirectoryName,
                    IncludeSubdirectories = false,
                };
                watcher.Changed += (_, _) => changed();
                watcher.Created += (_, _) => changed();
                watcher.Deleted += (_, _) => changed();
                watcher.Renamed += (_, _) => changed();
                // An overflowed buffer loses events; a rescan of everything is the cure.
                watcher.Error += (_, e) =>
                {
                    failed(folder, e.GetException());
                    changed();
                };
                _watchers.Add(watcher);
                try
                {
                    watcher.EnableRaisingEvents = true;
                }
                catch (IOException e)
                {
                    // The inotify limits are per user and shared with every other process of that uid on the node;
                    // running out of them must cost latency (the poll), not the source.
                    failed(folder, e);
                }
            }
        }

        public void Dispose()
        {
            foreach (var watcher in _watchers) watcher.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = LogEvents.ManifestsRead, Level = LogLevel.Information, Message = "Read manifests: {Files} files, {Services} Services, {Slices} EndpointSlices, {Errors} errors")]
        public static partial void Read(ILogger logger, int files, int services, int slices, int errors);

        [LoggerMessage(EventId = LogEvents.ManifestKeptLastGood, Level = LogLevel.Warning, Message = "{File} has {Errors} broken documents; keeping its last good objects")]
        public static partial void KeptLastGood(ILogger logger, string file, int errors);

        [LoggerMessage(EventId = LogEvents.ManifestRejected, Level = LogLevel.Warning, Message = "Manifest rejected: {Error}")]
        public static partial void Rejected(ILogger logger, string error);

        [LoggerMessage(EventId = LogEvents.ObjectSkipped, Level = LogLevel.Warning, Message = "Manifest skipped: {Warning}")]
        public static partial void Skipped(ILogger logger, string warning);

        [LoggerMessage(EventId = LogEvents.ManifestScanFailed, Level = LogLevel.Warning, Message = "Scanning the manifests failed; keeping the last snapshot and retrying within {Seconds} s")]
        public static partial void ScanFailed(ILogger logger, double seconds, Exception error);

        [LoggerMessage(EventId = LogEvents.ManifestWatchFailed, Level = LogLevel.Warning, Message = "Watching {Folder} failed; edits there are seen by the {Seconds} s poll only")]
        public static partial void WatchFailed(ILogger logger, string folder, double seconds, Exception error);
    }
}
