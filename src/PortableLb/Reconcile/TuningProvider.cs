using PortableLb.Sources;
using PortableLb.Tuning;

namespace PortableLb.Reconcile;

/// <summary>Where the tuning comes from on each reconcile: a file (--tuning), the ConfigMap in the snapshot, or none.</summary>
public interface ITuningProvider
{
    /// <summary>The tuning to use now, with the problems found in the latest version; a broken latest version yields the last good one.</summary>
    (TuningSettings Tuning, IReadOnlyList<TuningError> Errors) Current(ClusterSnapshot snapshot);
}

/// <summary>
/// Parses the latest text and keeps the last version that parsed: a typo in the ConfigMap must not reset every
/// Service to defaults. Before anything has parsed, the defaults apply.
/// </summary>
public abstract class LastGoodTuning : ITuningProvider
{
    private string? _lastText;
    private TuningSettings _lastGood = TuningSettings.Default;
    private IReadOnlyList<TuningError> _lastErrors = [];

    public (TuningSettings Tuning, IReadOnlyList<TuningError> Errors) Current(ClusterSnapshot snapshot)
    {
        var (text, source) = Read(snapshot);
        if (text == _lastText) return (_lastGood, _lastErrors);
        if (text is null)
        {
            // Gone after it was there: likely mid-replacement or deleted by mistake; keep what worked.
            _lastErrors = [new TuningError(source, "", "is missing; keeping the last tuning that parsed")];
            return (_lastGood, _lastErrors);
        }
        _lastText = text;
        var parsed = TuningParser.Parse(text, source);
        if (parsed.Tuning is not null) _lastGood = parsed.Tuning;
        _lastErrors = parsed.Errors;
        return (_lastGood, _lastErrors);
    }

    protected abstract (string? Text, string Source) Read(ClusterSnapshot snapshot);
}

public sealed class FileTuning(string path) : LastGoodTuning
{
    protected override (string? Text, string Source) Read(ClusterSnapshot snapshot)
    {
        try
        {
            return (File.ReadAllText(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A file being replaced can be briefly missing; the last good tuning stays until it is back.
            return (null, path);
        }
    }
}

/// <summary>The tuning ConfigMap's data key config.yaml, as the source watches it.</summary>
public sealed class ConfigMapTuning(string @namespace, string name) : LastGoodTuning
{
    public const string Key = "config.yaml";

    protected override (string? Text, string Source) Read(ClusterSnapshot snapshot) =>
        (snapshot.FindConfigMap(@namespace, name)?.Data?.GetValueOrDefault(Key), $"ConfigMap {@namespace}/{name} data[{Key}]");
}

public sealed class NoTuning : ITuningProvider
{
    public (TuningSettings Tuning, IReadOnlyList<TuningError> Errors) Current(ClusterSnapshot snapshot) => (TuningSettings.Default, []);
}
