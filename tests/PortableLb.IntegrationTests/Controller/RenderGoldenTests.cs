namespace PortableLb.IntegrationTests.Controller;

/// <summary>
/// Every golden scenario (tests/PortableLb.Tests/testdata/render) rendered by the program as a child process: the
/// JIT build here, and under build.cake's Publish the NativeAOT binary that the ipvs image ships.
/// Trimming can leave a template's field empty without any error (Scriban reads the views by reflection), so the
/// shipped binary must produce the goldens byte for byte, as the in-process golden tests do.
/// </summary>
public sealed class RenderGoldenTests
{
    private static readonly string Root = Repository.Path("tests", "PortableLb.Tests", "testdata", "render");

    public static IEnumerable<string> Scenarios() =>
        Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal)!;

    [TestCaseSource(nameof(Scenarios))]
    [CancelAfter(120_000)]
    public async Task The_program_renders_the_golden_files_byte_for_byte(string scenario)
    {
        Daemons.Require("keepalived", "exabgp");
        var folder = Path.Combine(Root, scenario);
        var outDir = Directory.CreateTempSubdirectory($"portable-lb-golden-{scenario}-").FullName;
        try
        {
            var args = new List<string> { "--objects", Path.Combine(folder, "objects.yaml"), "--out", outDir };
            if (File.Exists(Path.Combine(folder, "tuning.yaml"))) args.AddRange(["--tuning", Path.Combine(folder, "tuning.yaml")]);
            if (File.Exists(Path.Combine(folder, "args.txt")))
            {
                args.AddRange(File.ReadAllText(Path.Combine(folder, "args.txt")).Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
            }
            var output = new List<string>();
            using var process = ControllerProcess.Start("render", args, output, start => start.WorkingDirectory = folder);
            await process.WaitForExitAsync();
            var expectedExit = int.Parse(File.ReadLines(Path.Combine(folder, "result.txt")).First()["exit code: ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.That(process.ExitCode, Is.EqualTo(expectedExit), () => string.Join("\n", output));
            foreach (var file in new[] { "ipvs.conf", "exabgp.conf" })
            {
                var golden = Path.Combine(folder, file);
                var produced = Path.Combine(outDir, file);
                Assert.That(File.Exists(produced), Is.EqualTo(File.Exists(golden)), $"{file} written as the golden says");
                if (!File.Exists(golden)) continue;
                Assert.That((await File.ReadAllTextAsync(produced)).Replace(outDir, "<out>", StringComparison.Ordinal), Is.EqualTo(await File.ReadAllTextAsync(golden)), file);
            }
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }
}
