namespace PortableLb.Sources;

/// <summary>
/// A dirty flag one consumer can await. Any number of Set calls before the consumer wakes count once, which is what
/// makes a burst of 500 events one reconcile instead of 500.
/// </summary>
public sealed class ChangeSignal
{
    private readonly SemaphoreSlim _dirty = new(0, 1);

    public void Set()
    {
        try
        {
            _dirty.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already dirty: this change is covered by the reconcile that is about to happen.
        }
    }

    public Task WaitAsync(CancellationToken cancellationToken) => _dirty.WaitAsync(cancellationToken);

    /// <summary>Waits up to the timeout; false when nothing changed.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _dirty.WaitAsync(timeout, cancellationToken);

    public bool IsSet => _dirty.CurrentCount > 0;

    /// <summary>
    /// Clears the flag without waiting: called just before the consumer takes its snapshot, which covers every change
    /// so far. A change after that sets it again; one before it must not cause a second, identical pass.
    /// </summary>
    public void Reset() => _dirty.Wait(0);
}
