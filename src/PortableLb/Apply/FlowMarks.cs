using System.Globalization;
using System.Numerics;

namespace PortableLb.Apply;

/// <summary>
/// The bits of the packet and connection marks that flow pinning (<see cref="FlowPins"/>) may use on a node, one
/// value per LB pod there. Other software marks packets too (kube-proxy 0x4000 and 0x8000, Cilium 0x0f00, Calico
/// bits of 0xffff0000 from the bottom up), so pinning only ever reads and writes these bits, and the mask is a flag.
/// </summary>
public readonly record struct FlowMarks
{
    /// <summary>Bits 24 to 27: 15 LB pods a node, clear of kube-proxy's and Cilium's marks and of the low bits Calico takes first.</summary>
    public const uint DefaultMask = 0x0f000000;

    private FlowMarks(uint mask) => Mask = mask;

    /// <summary>Zero when pinning is off.</summary>
    public uint Mask { get; }

    public bool Enabled => Mask != 0;

    /// <summary>How many LB pods on one node can be pinned at once: every value of the mask but zero, which means "not pinned".</summary>
    public int Slots => Enabled ? (int)Math.Min(Mask >> Shift, int.MaxValue) : 0;

    private int Shift => BitOperations.TrailingZeroCount(Mask);

    /// <summary>The mark of slot <paramref name="slot"/> (1 to <see cref="Slots"/>), within the mask.</summary>
    public uint Value(int slot) => (uint)slot << Shift;

    /// <summary>The slot a mark names, or 0 when it names none under this mask.</summary>
    public int SlotOf(uint mark) => Enabled && (mark & ~Mask) == 0 ? (int)(mark >> Shift) : 0;

    public static FlowMarks Off => new(0);

    public static FlowMarks Default => new(DefaultMask);

    /// <summary>A mask of contiguous bits, as hex ("0x0f000000") or decimal; "0" turns pinning off.</summary>
    public static bool TryParse(string text, out FlowMarks marks, out string error)
    {
        marks = Off;
        error = "";
        var hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (!uint.TryParse(hex ? text[2..] : text, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out var mask))
        {
            error = $"\"{text}\" is not a 32-bit mask (hex like 0x0f000000, or 0 for off)";
            return false;
        }
        // Contiguous, so the slots are consecutive numbers shifted into place and a rule's fwmark/mask names exactly one.
        if (mask != 0 && BitOperations.PopCount((ulong)(mask >> BitOperations.TrailingZeroCount(mask)) + 1) != 1)
        {
            error = $"0x{mask:x8} is not one run of contiguous bits";
            return false;
        }
        marks = new FlowMarks(mask);
        return true;
    }

    public override string ToString() => $"0x{Mask:x8}";
}
