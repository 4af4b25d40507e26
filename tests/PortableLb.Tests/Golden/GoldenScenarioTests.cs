using System.Text;
using PortableLb.Cli;

namespace PortableLb.Tests.Golden;

/// <summary>
/// Each folder under testdata/render is one scenario: objects.yaml, optional tuning.yaml and args.txt, and the
/// expected ipvs.conf, exabgp.conf and result.txt (exit code and stderr). The scenario runs through the real
/// `render` command, so the real keepalived -t and exabgp --test judge every golden; `render` runs the controller's
/// own pipeline, so the goldens are what `run` writes into its config folder (shown here as &lt;out&gt;).
/// Set UPDATE_GOLDEN=1 to rewrite the expected files after an intended change, then review the diff.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class GoldenScenarioTests
{
    private static readonly string Root = Path.Combine(TestContext.CurrentContext.TestDirectory, "testdata", "render");
    private static bool Update => Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1";

    public static IEnumerable<string> Scenarios() =>
        Directory.EnumerateDirectories(Path.Combine(AppContext.BaseDirectory, "testdata", "render")).Select(Path.GetFileName).Order(StringComparer.Ordinal)!;

    [TestCaseSource(nameof(Scenarios))]
    public async Task Scenario_renders_as_its_golden_files_and_passes_the_daemons_checks(string scenario)
    {
        Daemons.Require("keepalived", "exabgp");
        var folder = Path.Combine(Root, scenario);
        var outDir = Directory.CreateTempSubdirectory($"portable-lb-golden-{scenario}-").FullName;
        try
        {
            var args = new List<string> { "render", "--objects", Path.Combine(folder, "objects.yaml"), "--out", outDir };
            if (File.Exists(Path.Combine(folder, "tuning.yaml"))) args.AddRange(["--tuning", Path.Combine(folder, "tuning.yaml")]);
            if (File.Exists(Path.Combine(folder, "args.txt")))
            {
                args.AddRange(File.ReadAllText(Path.Combine(folder, "args.txt")).Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
            }

            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var exitCode = await Program.RunAsync(args.ToArray(), stdout, stderr);

            var result = new StringBuilder()
                .Append("exit code: ").Append(exitCode).Append('\n')
                .Append("--- stderr\n")
                .Append(stderr.ToString().Replace(folder + "/", "", StringComparison.Ordinal).Replace(outDir, "<out>", StringComparison.Ordinal))
                .ToString();
            Compare(folder, "result.txt", result, stdout.ToString());
            foreach (var file in new[] { "ipvs.conf", "exabgp.conf" })
            {
                var produced = Path.Combine(outDir, file);
                var text = File.Exists(produced) ? (await File.ReadAllTextAsync(produced)).Replace(outDir, "<out>", StringComparison.Ordinal) : null;
                Compare(folder, file, text, stdout.ToString());
            }
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    private static void Compare(string folder, string name, string? actual, string context)
    {
        var expectedPath = Path.Combine(folder, name);
        var sourcePath = Path.Combine(SourceRoot(), Path.GetFileName(folder), name);
        if (Update)
        {
            if (actual is null) File.Delete(sourcePath);
            else File.WriteAllText(sourcePath, actual);
            return;
        }
        var expected = File.Exists(expectedPath) ? File.ReadAllText(expectedPath) : null;
        Assert.That(actual, Is.EqualTo(expected), $"{Path.GetFileName(folder)}/{name} differs from its golden (UPDATE_GOLDEN=1 rewrites it). stdout was:\n{context}");
    }

    /// <summary>The testdata folder in the source tree, where UPDATE_GOLDEN writes.</summary>
    private static string SourceRoot([System.Runtime.CompilerServices.CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(thisFile))!, "testdata", "render");
}
