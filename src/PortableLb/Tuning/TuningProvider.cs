using PortableLb.Kubernetes;
using PortableLb.Sources;

namespace PortableLb.Tuning;

/// <summary>
/// Where the tuning comes from, as the command line says: a file, a ConfigMap among the objects, a text built into the
/// binary (the bundled example), or nothing (defaults); and optionally the Secret with the BGP password.
/// </summary>
public sealed record TuningChoice(string? File = null, (string Namespace, string Name)? ConfigMap = null, (string Text, string Source)? Builtin = null)
{
    public (string Namespace, string Name)? PasswordSecret { get; init; }

    /// <summary>The one place a choice becomes a provider, for `render` and `run` alike.</summary>
    public ITuningProvider CreateProvider()
    {
        ITuningProvider provider = this switch
        {
            { File: { } file } => new FileTuning(file),
            { ConfigMap: { } configMap } => new ConfigMapTuning(configMap.Namespace, configMap.Name),
            { Builtin: { } builtin } => new BuiltinTuning(builtin.Text, builtin.Source),
            _ => new NoTuning(),
        };
        return PasswordSecret is { } secret ? new BgpPasswordTuning(provider, secret.Namespace, secret.Name) : provider;
    }

    /// <summary>Where it comes from, in words, for `render`'s report; null for the defaults.</summary>
    public string? Description => this switch
    {
        { File: { } file } => file,
        { ConfigMap: { } configMap } => $"ConfigMap {configMap.Namespace}/{configMap.Name}",
        { Builtin: { } builtin } => builtin.Source,
        _ => null,
    };
}

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
        (snapshot.FindConfigMap(@namespace, name)?.Data.ValueOf(Key), $"ConfigMap {@namespace}/{name} data[{Key}]");
}

/// <summary>A fixed text: the tuning of the example built into the binary.</summary>
public sealed class BuiltinTuning(string text, string source) : LastGoodTuning
{
    protected override (string? Text, string Source) Read(ClusterSnapshot snapshot) => (text, source);
}

public sealed class NoTuning : ITuningProvider
{
    public (TuningSettings Tuning, IReadOnlyList<TuningError> Errors) Current(ClusterSnapshot snapshot) => (TuningSettings.Default, []);
}

/// <summary>
/// Adds the BGP TCP-MD5 password from a Secret (data key `password`) to whatever tuning the inner provider gives.
/// The password never lives in config.yaml, which is a ConfigMap anyone with read access to the namespace sees.
/// A Secret that never existed means no password, silently: the manifests name one that only MD5 users create. One
/// that goes missing or turns invalid keeps the last good password: dropping it would reset every session.
/// </summary>
public sealed class BgpPasswordTuning(ITuningProvider inner, string @namespace, string secretName) : ITuningProvider
{
    public const string Key = "password";

    /// <summary>TCP_MD5SIG_MAXKEYLEN in the Linux kernel.</summary>
    public const int MaxLength = 80;

    private string? _lastGood;

    public (TuningSettings Tuning, IReadOnlyList<TuningError> Errors) Current(ClusterSnapshot snapshot)
    {
        var (tuning, errors) = inner.Current(snapshot);
        var source = $"Secret {@namespace}/{secretName}";
        var secret = snapshot.FindSecret(@namespace, secretName);
        if (secret is null && _lastGood is null) return (tuning, errors);
        var (password, problem) = Read(secret);
        if (problem is null) _lastGood = password;
        var withPassword = tuning with { Bgp = tuning.Bgp with { Md5Password = _lastGood } };
        if (problem is null) return (withPassword, errors);
        var kept = _lastGood is null ? "BGP runs without a password until it is fixed" : "keeping the last good password";
        return (withPassword, [.. errors, new TuningError(source, problem.Value.Field, $"{problem.Value.Message}; {kept}")]);
    }

    private static (string? Password, (string Field, string Message)? Problem) Read(k8s.Models.V1Secret? secret)
    {
        if (secret is null) return (null, ("metadata.name", "no such Secret"));
        string? text = null;
        if (secret.Data.ValueOf(Key) is { } bytes)
        {
            try
            {
                text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            }
            catch (System.Text.DecoderFallbackException)
            {
                return (null, ($"data[{Key}]", "is not UTF-8 text"));
            }
        }
        text ??= secret.StringData.ValueOf(Key);
        if (text is null) return (null, ($"data[{Key}]", "is missing"));
        // A trailing newline is what `kubectl create secret --from-file` of an echo'd file carries; it is never meant.
        text = text.TrimEnd('\n', '\r');
        if (text.Length is 0 or > MaxLength) return (null, ($"data[{Key}]", $"must be 1 to {MaxLength} characters (the kernel's TCP-MD5 key limit), not {text.Length}"));
        // exabgp's tokenizer ends a quoted word at ' as well as ", and has no escapes.
        if (text.Any(c => c is < ' ' or > '~' or '"' or '\'' or '\\')) return (null, ($"data[{Key}]", "must be printable ASCII without \", ' or \\ (exabgp's quoting)"));
        return (text, null);
    }
}
