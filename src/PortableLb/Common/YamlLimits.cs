using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace PortableLb.Common;

/// <summary>A YAML document that exceeds one of <see cref="YamlLimits"/>; the message names the limit.</summary>
public sealed class YamlLimitException(Mark start, string message) : YamlException(start, start, message);

/// <summary>
/// Bounds on one YAML (or JSON) document, checked on the parser's event stream before any tree is built. The tree
/// builders recurse, and YAML aliases multiply: a 64-byte self-referencing alias overflowed the stack, and a 581-byte
/// "billion laughs" grew to 17 GB. The stream is walked without recursion, an alias counts as the whole node it
/// stands for, and an alias to a node that is still open (a cycle) is refused outright.
/// </summary>
public sealed record YamlLimits(int MaxDepth, long MaxNodes, long MaxScalarChars)
{
    /// <summary>
    /// Far above any real object: Kubernetes objects nest about 10 deep, and the API server stores at most 1.5 MiB
    /// per object. A `kubectl get -o yaml` List of 10,000 EndpointSlices stays below the node and character bounds.
    /// </summary>
    public static YamlLimits Default { get; } = new(MaxDepth: 64, MaxNodes: 2_000_000, MaxScalarChars: 64L << 20);

    /// <summary>Reads the whole stream and throws <see cref="YamlLimitException"/> at the first bound crossed.</summary>
    /// <exception cref="YamlException">The text is not YAML, or a limit is crossed.</exception>
    public void Check(string text)
    {
        var parser = new Parser(new StringReader(text));
        // Per open collection: its anchor, the document's totals when it opened, and its deepest child so far.
        var open = new Stack<(string? Anchor, Cost AtStart, int ChildDepth)>();
        var anchors = new Dictionary<string, Cost>(StringComparer.Ordinal);
        var total = new Cost(0, 0, 0);
        while (parser.MoveNext())
        {
            var at = parser.Current!.Start;
            switch (parser.Current)
            {
                case DocumentStart:
                    anchors.Clear();
                    total = new Cost(0, 0, 0);
                    break;
                case MappingStart or SequenceStart:
                    var start = (NodeEvent)parser.Current;
                    if (open.Count + 1 > MaxDepth) throw new YamlLimitException(at, $"nests deeper than {MaxDepth} levels");
                    // A name given again means this node from now on, even inside it: forget the earlier one, or
                    // `a: &x 1` then `b: &x [*x]` would pass here and be a cycle in the tree.
                    if (!start.Anchor.IsEmpty) anchors.Remove(start.Anchor.Value);
                    open.Push((start.Anchor.IsEmpty ? null : start.Anchor.Value, total, 0));
                    total = Grow(total, new Cost(1, 0, 0), at);
                    break;
                case MappingEnd or SequenceEnd:
                    var (anchor, atStart, childDepth) = open.Pop();
                    var collection = new Cost(total.Nodes - atStart.Nodes, childDepth + 1, total.ScalarChars - atStart.ScalarChars);
                    if (anchor is not null) anchors[anchor] = collection;
                    Finished(open, collection.Depth);
                    break;
                case Scalar scalar:
                    var leaf = new Cost(1, 0, scalar.Value.Length);
                    if (!scalar.Anchor.IsEmpty) anchors[scalar.Anchor.Value] = leaf;
                    total = Grow(total, leaf, at);
                    Finished(open, 0);
                    break;
                case AnchorAlias alias:
                    if (!anchors.TryGetValue(alias.Value.Value, out var target))
                    {
                        throw new YamlLimitException(at, $"alias *{alias.Value.Value} refers to a node that contains it, or to no anchor");
                    }
                    if (open.Count + target.Depth > MaxDepth) throw new YamlLimitException(at, $"nests deeper than {MaxDepth} levels (through alias *{alias.Value.Value})");
                    total = Grow(total, target, at);
                    Finished(open, target.Depth);
                    break;
            }
        }
    }

    /// <summary>Counts an expanded node into the document's totals and checks them.</summary>
    private Cost Grow(Cost total, Cost node, Mark at)
    {
        var grown = new Cost(total.Nodes + node.Nodes, 0, total.ScalarChars + node.ScalarChars);
        if (grown.Nodes > MaxNodes) throw new YamlLimitException(at, $"expands to more than {MaxNodes:N0} nodes (an alias counts as the nodes it repeats)");
        if (grown.ScalarChars > MaxScalarChars) throw new YamlLimitException(at, $"expands to more than {MaxScalarChars >> 20} MiB of text (an alias counts as the text it repeats)");
        return grown;
    }

    /// <summary>Tells the enclosing collection how deep its finished child was.</summary>
    private static void Finished(Stack<(string? Anchor, Cost AtStart, int ChildDepth)> open, int depth)
    {
        if (open.Count == 0) return;
        var parent = open.Pop();
        open.Push(parent with { ChildDepth = Math.Max(parent.ChildDepth, depth) });
    }

    /// <summary>What a node costs when expanded: its nodes, its depth, and the characters of its scalars.</summary>
    private readonly record struct Cost(long Nodes, int Depth, long ScalarChars);
}
