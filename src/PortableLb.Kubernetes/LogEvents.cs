namespace PortableLb;

/// <summary>
/// Every log event id PortableLb writes, in one table, so log queries can rely on them (README: Operations). It lives
/// in the lowest assembly so that the Kubernetes client and the controller draw from the same table. Ids are stable:
/// add new ones, never renumber. The thousands say where an event comes from.
/// </summary>
public static class LogEvents
{
    // 1000: the cluster sources.
    public const int Listed = 1001;
    public const int WatchExpired = 1002;
    public const int ListWatchFailed = 1003;
    public const int WatchIdle = 1004;
    public const int WatchBadLine = 1005;
    public const int ManifestsRead = 1101;
    public const int ManifestKeptLastGood = 1102;
    public const int ManifestWatchFailed = 1103;
    public const int ManifestRejected = 1104;
    public const int ManifestScanFailed = 1105;
    public const int ObjectSkipped = 1106;
    public const int ApiAccessLost = 1006;

    // 2000: the reconcile loop.
    public const int SourcesReady = 2001;
    public const int Applied = 2002;
    public const int ConfigRejected = 2003;
    public const int ObjectRejected = 2004;
    public const int TuningError = 2005;
    public const int ApplyFailed = 2006;
    public const int DataPlaneProblem = 2007;
    public const int ReloadPending = 2008;

    // 3000: the controller's lifecycle.
    public const int Withdrawing = 3001;
    public const int WithdrawnWaiting = 3002;
    public const int Stopped = 3003;
    public const int BackgroundTaskFaulted = 3004;
    public const int ReloadsUnconfirmable = 3005;
    public const int Drained = 3006;

    // 4000: the supervised keepalived.
    public const int KeepalivedStarted = 4001;
    public const int KeepalivedExited = 4002;
    public const int KeepalivedOutput = 4003;
    public const int KeepalivedStopped = 4004;

    // 5000: node-routes.
    public const int NodeRoutesApplied = 5001;
    public const int NodeRouteFailed = 5002;

    // 6000: reporting to the cluster.
    public const int EventNotRecorded = 6001;
    public const int StatusWritten = 6002;
    public const int StatusNotWritten = 6003;
    public const int AllocationFailed = 6004;
    public const int EventsDropped = 6005;

    // 7000: leader election (the one LB pod that writes to the API).
    public const int LeadershipAcquired = 7001;
    public const int LeadershipLost = 7002;
    public const int LeaseFailed = 7003;
}
