using System.Collections;

namespace PortableLb.Common;

/// <summary>
/// An immutable list that compares by its items, so records holding lists compare by value:
/// "an equal desired state means no render" depends on it.
/// </summary>
public sealed class ValueList<T> : IReadOnlyList<T>, IEquatable<ValueList<T>>
{
    private readonly T[] _items;

    public static ValueList<T> Empty { get; } = new([]);

    public ValueList(IEnumerable<T> items) => _items = items.ToArray();

    public int Count => _items.Length;
    public T this[int index] => _items[index];

    public bool Equals(ValueList<T>? other) =>
        other is not null && (ReferenceEquals(this, other) || _items.AsSpan().SequenceEqual(other._items, EqualityComparer<T>.Default));

    public override bool Equals(object? obj) => Equals(obj as ValueList<T>);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in _items) hash.Add(item);
        return hash.ToHashCode();
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)_items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    public override string ToString() => $"[{string.Join(", ", _items)}]";
}

public static class ValueList
{
    public static ValueList<T> ToValueList<T>(this IEnumerable<T> items) => new(items);
    public static ValueList<T> Of<T>(params T[] items) => new(items);
}
