namespace PortableLb.Common;

/// <summary>
/// Passes on only the messages that were not there last time. The loop reconciles on every change anywhere, so a
/// Service that stays broken would otherwise repeat its error in every pass; once it is fixed and breaks again, the
/// error is new again.
/// </summary>
public sealed class OncePerChange
{
    private HashSet<string> _previous = new(StringComparer.Ordinal);

    public IReadOnlyList<string> New(IEnumerable<string> current)
    {
        var now = new HashSet<string>(current, StringComparer.Ordinal);
        var fresh = now.Where(m => !_previous.Contains(m)).ToList();
        _previous = now;
        return fresh;
    }
}
