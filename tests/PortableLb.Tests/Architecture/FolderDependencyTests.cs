using System.Text.RegularExpressions;

namespace PortableLb.Tests.Architecture;

/// <summary>
/// The folders of src/PortableLb form one chain, and code may only use its own folder and those before it:
/// Common → Sources → Tuning → Model → Rendering → Validation → Apply → Reconcile → Diagnostics → Cli.
/// Data flows that way (ARCHITECTURE.md); an import against it is a cycle waiting to happen.
/// </summary>
public sealed partial class FolderDependencyTests
{
    public static readonly string[] Chain = ["Common", "Sources", "Tuning", "Model", "Rendering", "Validation", "Apply", "Reconcile", "Diagnostics", "Cli"];

    // `using PortableLb.X;`, `PortableLb.X.Y`, or `X.Y` written bare inside namespace PortableLb.Z (a sibling by its short name).
    [GeneratedRegex(@"\bPortableLb\.(?<folder>[A-Z][A-Za-z]*)\b|(?<![\w.])(?<folder>[A-Z][A-Za-z]*)\.[A-Z]")]
    private static partial Regex Reference();

    private static string Source => Repository.Path("src", "PortableLb");

    public static IEnumerable<string> Files() =>
        Directory.EnumerateFiles(Source, "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Source, f))
            .Where(f => !f.StartsWith("obj", StringComparison.Ordinal) && !f.StartsWith("bin", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    /// <summary>The folders of the chain that `code` refers to, with the line of each reference.</summary>
    public static IEnumerable<(string Folder, string Line)> References(string code) =>
        code.Split('\n')
            .Where(line => !line.TrimStart().StartsWith("//", StringComparison.Ordinal) && !line.TrimStart().StartsWith("namespace", StringComparison.Ordinal))
            .SelectMany(line => Reference().Matches(line).Select(m => (Folder: m.Groups["folder"].Value, Line: line.Trim())))
            .Where(r => Chain.Contains(r.Folder));

    [TestCaseSource(nameof(Files))]
    public void Uses_only_its_own_folder_and_those_before_it(string file)
    {
        var folder = file.Split('/')[0];
        Assert.That(Chain, Does.Contain(folder), $"{file}: every folder must have a place in the chain ({string.Join(" → ", Chain)})");
        var rank = Array.IndexOf(Chain, folder);
        var backwards = References(File.ReadAllText(Path.Combine(Source, file)))
            .Where(r => Array.IndexOf(Chain, r.Folder) > rank)
            .Select(r => $"{r.Folder}: {r.Line}")
            .Distinct()
            .ToList();
        Assert.That(backwards, Is.Empty, $"{file} ({folder}) uses folders after it in the chain");
    }

    [Test]
    public void The_check_sees_usings_qualified_names_and_short_sibling_names()
    {
        const string code = """
            using PortableLb.Reconcile;
            namespace PortableLb.Model;
            // Apply.Nothing in a comment does not count
            class X { Diagnostics.Histogram h; PortableLb.Cli.RunHost r; int y = options.Tuning.Count; }
            """;
        Assert.That(References(code).Select(r => r.Folder), Is.EqualTo(new[] { "Reconcile", "Diagnostics", "Cli" }));
    }
}
