using PortableLb.Common;

namespace PortableLb.Validation;

/// <summary>
/// Remembers the shapes (skeletons) of the configs a daemon accepted, and accepts a candidate of a remembered shape
/// without running the daemon's check again. What a shape keeps and what it may leave out is the skeleton function's
/// promise: two configs with one skeleton get one verdict from the daemon. A null skeleton means "only the daemon may
/// judge this one". Rejections are never remembered, so a rejected candidate is always asked about again.
/// </summary>
public class KnownShapeValidator(IConfigValidator daemon, Func<string, string?> skeleton, int remembered = 64) : IConfigValidator
{
    private readonly Lock _lock = new();
    private readonly LinkedList<string> _accepted = new();
    private readonly Dictionary<string, Task> _pending = [];

    public string Daemon => daemon.Daemon;

    /// <summary>How many candidates were accepted on the strength of an earlier verdict.</summary>
    public int Shortcuts { get; private set; }

    public async Task<ValidationResult> ValidateAsync(string config, CancellationToken cancellationToken)
    {
        var shape = skeleton(config);
        if (shape is not null)
        {
            Task? pending;
            lock (_lock) pending = _pending.GetValueOrDefault(shape);
            // A prewarm of this very shape is under way: its verdict arrives sooner than a check started now.
            if (pending is not null) await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (_accepted.Contains(shape))
                {
                    Shortcuts++;
                    return ValidationResult.Valid;
                }
            }
        }
        var verdict = await daemon.ValidateAsync(config, cancellationToken).ConfigureAwait(false);
        if (verdict.IsValid && shape is not null) Remember(shape);
        return verdict;
    }

    private void Remember(string shape)
    {
        lock (_lock)
        {
            if (_accepted.Contains(shape)) return;
            _accepted.AddFirst(shape);
            while (_accepted.Count > remembered) _accepted.RemoveLast();
        }
    }

    public void Anticipate(string config) => _ = PrewarmAsync(config);

    /// <summary>
    /// Has the daemon judge a config we may need soon (the same one without any routes, say) in the background, so the
    /// first candidate of its shape does not pay for the check at the moment speed matters. A no-op when its shape is
    /// known or already being checked.
    /// </summary>
    public Task PrewarmAsync(string config)
    {
        var shape = skeleton(config);
        if (shape is null) return Task.CompletedTask;
        lock (_lock)
        {
            if (_accepted.Contains(shape)) return Task.CompletedTask;
            if (_pending.TryGetValue(shape, out var running)) return running;
            var check = new Task<Task>(() => CheckAsync(config, shape));
            _pending[shape] = check.Unwrap();
            check.Start(TaskScheduler.Default);
            return _pending[shape];
        }
    }

    private async Task CheckAsync(string config, string shape)
    {
        try
        {
            var verdict = await daemon.ValidateAsync(config, CancellationToken.None).ConfigureAwait(false);
            if (verdict.IsValid) Remember(shape);
        }
        catch (Exception e) when (e is MissingProgramException or IOException or InvalidOperationException)
        {
            // Only a head start: the real check runs again when the config is actually needed.
        }
        finally
        {
            lock (_lock) _pending.Remove(shape);
        }
    }
}
