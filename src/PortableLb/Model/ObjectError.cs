using PortableLb.Kubernetes;

namespace PortableLb.Model;

/// <summary>A rejected object or part of one, named the way kubectl names it, with the field that is wrong.</summary>
public sealed record ObjectError(ObjectKey Object, string Field, string Message)
{
    public override string ToString() => $"{Object}: {Field}: {Message}";
}
