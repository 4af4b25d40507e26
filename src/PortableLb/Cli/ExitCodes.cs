namespace PortableLb.Cli;

/// <summary>The exit codes of render and run: scripts, CI and the kubelet's restarts depend on these numbers.</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>Some objects were rejected; the valid rest was rendered, validated and written.</summary>
    public const int ObjectsRejected = 1;

    /// <summary>Bad tuning, a usage error, or output that failed validation: nothing was written.</summary>
    public const int Fatal = 2;

    /// <summary>`run` only: a background task failed and stopped the controller (logged, in /healthz and /metrics).</summary>
    public const int Faulted = 3;
}
