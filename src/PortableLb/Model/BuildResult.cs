using PortableLb.Common;
using PortableLb.Tuning;

namespace PortableLb.Model;

/// <summary>What became of one served Service; the CLI prints these and metrics count them.</summary>
public sealed record ServiceSummary(ServiceName Name, ValueList<string> Addresses, int VirtualServers, int RealServers, ValueList<string> Announced, ValueList<string> Withdrawn);

/// <summary>
/// The builder's answer. Object errors reject single objects and leave the rest usable; config errors (tuning or
/// node addresses) make the whole state unusable, because they would affect every Service alike.
/// </summary>
public sealed record BuildResult(
    DesiredState State,
    IReadOnlyList<ObjectError> Errors,
    IReadOnlyList<TuningError> ConfigErrors,
    IReadOnlyList<string> Warnings,
    IReadOnlyList<ServiceSummary> Services);
