namespace PortableLb.Tuning;

/// <summary>A problem in config.yaml, named by its path: "virtualServer.healthCheck.path".</summary>
public sealed record TuningError(string Source, string Path, string Message)
{
    public override string ToString() => $"{Source}: {Path}: {Message}";
}
