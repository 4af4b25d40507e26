namespace PortableLb.Rendering;

/// <summary>A view whose rendered text depends only on this key (a value-equal record).</summary>
public interface IMemoKey
{
    object MemoKey { get; }
}

/// <summary>
/// Text rendered for a key in this render or the one before. The controller re-renders the whole file for every
/// change, but a change touches one virtual server; the others come from here. Entries not used by a render are
/// dropped after the next one, so the cache never holds more than two renders' worth.
/// </summary>
public sealed class MemoCache
{
    private Dictionary<object, string> _current = [];
    private Dictionary<object, string> _previous = [];

    public int Hits { get; private set; }
    public int Misses { get; private set; }

    public void BeginRender()
    {
        (_previous, _current) = (_current, _previous);
        _current.Clear();
        Hits = Misses = 0;
    }

    public string GetOrRender(object key, Func<string> render)
    {
        if (_current.TryGetValue(key, out var text) || _previous.Remove(key, out text))
        {
            Hits++;
        }
        else
        {
            Misses++;
            text = render();
        }
        _current[key] = text;
        return text;
    }
}
