using System.Reflection;

namespace PortableLb.Sources;

/// <summary>
/// The thesis example (examples/thesis), built into the binary so `portable-lb render` with no --objects shows a
/// complete run on a laptop with no cluster.
/// </summary>
public static class BundledExample
{
    private const string Prefix = "examples/thesis/";
    private const string TuningResource = Prefix + "tuning/config.yaml";

    public const string Name = "bundled example (examples/thesis)";
    public const string TuningName = "bundled example tuning (examples/thesis/tuning/config.yaml)";

    public static ManifestSet Objects()
    {
        var assembly = Assembly.GetExecutingAssembly();
        var documents = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n != TuningResource)
            .Order(StringComparer.Ordinal)
            .Select(n => Read(assembly, n));
        return ManifestReader.ReadText(string.Join("\n---\n", documents), Name);
    }

    public static string Tuning() => Read(Assembly.GetExecutingAssembly(), TuningResource);

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"{name} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
