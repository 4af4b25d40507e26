// PortableLb's build: ./build.sh --target=<Build|Test|Bench|Publish|Images|Demo>. Read it top to bottom.

///////////////////////////////////////////////////////////////////////////////
// ARGUMENTS
///////////////////////////////////////////////////////////////////////////////

var target = Argument("target", "Build");
var configuration = Argument("configuration", "Release");
// Bench: which benchmark classes to run (BenchmarkDotNet's --filter); "*" runs all of them.
var benchFilter = Argument("bench-filter", "*");
// Bench: minutes of the churn soak (1,000 changes a minute); the issue's measurement is 10.
var soakMinutes = Argument("soak-minutes", "10");
// Images: the registry/name prefix and tag of the two images.
var imagePrefix = Argument("image-prefix", "portable-lb");
var imageTag = Argument("image-tag", "dev");

///////////////////////////////////////////////////////////////////////////////
// GLOBAL VARIABLES
///////////////////////////////////////////////////////////////////////////////

var solution = File("./PortableLb.slnx");
var artifacts = Directory("./artifacts");
var testResults = artifacts + Directory("test-results");
// The trimmed, self-contained ReadyToRun build that images/ipvs ships.
var runtime = "linux-x64";
var publishDir = artifacts + Directory("publish") + Directory(runtime);
var manifestSchema = Directory("./tests/manifest-schema");
var inCi = string.Equals(EnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

// Programs the tests drive for real, and the Debian packages that ship them.
var testPrerequisites = new (string Program, string Package)[]
{
    ("keepalived", "keepalived"),
    ("exabgp", "exabgp"),
    ("gobgpd", "gobgpd"),
    ("gobgp", "gobgpd"),
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("vtysh", "frr"),
    ("ipvsadm", "ipvsadm"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("nginx", "nginx"),
    ("curl", "curl"),
    ("wrk", "wrk"),
    ("python3", "python3"),
    ("node", "nodejs"),
    ("npm", "npm"),
};

///////////////////////////////////////////////////////////////////////////////
// SETUP / TEARDOWN
///////////////////////////////////////////////////////////////////////////////

Setup(context =>
{
    Information($"PortableLb: target {target}, configuration {configuration}{(inCi ? ", CI" : "")}");
});

///////////////////////////////////////////////////////////////////////////////
// PRIVATE TASKS
///////////////////////////////////////////////////////////////////////////////

Task("__Clean")
    .Does(() =>
{
    CleanDirectory(artifacts);
});

Task("__Compile")
    .Does(() =>
{
    // TreatWarningsAsErrors is set for every project in Directory.Build.props.
    DotNetBuild(solution, new DotNetBuildSettings { Configuration = configuration });
});

Task("__VerifyFormat")
    .Does(() =>
{
    var exitCode = StartProcess("dotnet", new ProcessSettings
    {
        Arguments = $"format {solution} --verify-no-changes --no-restore --verbosity quiet",
    });
    if (exitCode != 0) throw new CakeException("dotnet format found changes to make; run `dotnet format PortableLb.slnx` and commit them.");
});

Task("__InstallTestPrerequisites")
    .Does(() =>
{
    var missing = testPrerequisites.Where(p => !OnPath(p.Program)).Select(p => p.Package).Distinct().ToList();
    if (missing.Count == 0)
    {
        Information("Test prerequisites present: " + string.Join(", ", testPrerequisites.Select(p => p.Program)));
        return;
    }
    var install = "apt-get install -y --no-install-recommends " + string.Join(" ", missing);
    if (!IsRoot())
    {
        Warning($"Missing Debian packages: {string.Join(", ", missing)}. Install them with: sudo apt-get update && sudo {install}");
        if (inCi) throw new CakeException("CI needs every test prerequisite installed.");
        return;
    }
    Information($"Installing {string.Join(", ", missing)}");
    Run("apt-get", "update -qq");
    Run("apt-get", install, new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" });
});

// The Kubernetes OpenAPI schema check of the manifests (tests/manifest-schema), pinned by its package-lock.json.
Task("__InstallSchemaCheck")
    .IsDependentOn("__InstallTestPrerequisites")
    .Does(() =>
{
    if (System.IO.Directory.Exists(manifestSchema + Directory("node_modules/kubernetes-models"))) return;
    if (!OnPath("npm"))
    {
        Warning("npm is missing: the manifest schema tests will be skipped (and fail under CI=true).");
        return;
    }
    Run("npm", $"ci --no-audit --no-fund --prefix {manifestSchema}");
});

Task("__RunTests")
    .Does(() =>
{
    DotNetTest(solution, new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        ResultsDirectory = testResults,
        Loggers = new[] { "trx;LogFilePrefix=tests", "console;verbosity=normal" },
    });
})
    .Finally(() =>
{
    SummarizeTestResults();
});

///////////////////////////////////////////////////////////////////////////////
// PUBLIC TARGETS
///////////////////////////////////////////////////////////////////////////////

Task("Build")
    .Description("Compile with warnings as errors and check formatting.")
    .IsDependentOn("__Clean")
    .IsDependentOn("__Compile")
    .IsDependentOn("__VerifyFormat");

Task("Test")
    .Description("Install the daemons the tests use (when root), build, and run every test.")
    .IsDependentOn("__InstallTestPrerequisites")
    .IsDependentOn("__InstallSchemaCheck")
    .IsDependentOn("Build")
    .IsDependentOn("__RunTests");

Task("Demo")
    .Description("The README's main job: render and validate the bundled thesis example into ./out.")
    .IsDependentOn("__InstallTestPrerequisites")
    .Does(() =>
{
    var exitCode = StartProcess("dotnet", new ProcessSettings
    {
        Arguments = $"run --project src/PortableLb -c {configuration} -- render --out out",
    });
    if (exitCode != 0) throw new CakeException($"portable-lb render exited {exitCode}");
});

Task("Bench")
    .Description("Run the benchmarks (Release) and print their tables; copy the numbers into docs/benchmarks.md.")
    .IsDependentOn("__InstallTestPrerequisites")
    .Does(() =>
{
    var project = "./bench/PortableLb.Benchmarks/PortableLb.Benchmarks.csproj";
    var settings = new DotNetRunSettings { Configuration = "Release" };
    DotNetRun(project, new ProcessArgumentBuilder().Append("--filter").AppendQuoted(benchFilter), settings);
    DotNetRun(project, new ProcessArgumentBuilder().Append("peak-rss"), settings);
    DotNetRun(project, new ProcessArgumentBuilder().Append("informer"), settings);
    DotNetRun(project, new ProcessArgumentBuilder().Append("run-latency"), settings);
    DotNetRun(project, new ProcessArgumentBuilder().Append("run-memory"), settings);
    DotNetRun(project, new ProcessArgumentBuilder().Append("run-soak").Append(soakMinutes), settings);
    // Network namespaces need root; elsewhere the ECMP delays are left out, and said so.
    if (IsRoot())
    {
        DotNetRun(project, new ProcessArgumentBuilder().Append("ecmp"), settings);
        DotNetRun(project, new ProcessArgumentBuilder().Append("vm"), settings);
    }
    else Warning("Not root: skipping the ECMP and VM benchmarks (network namespaces, QEMU's export of /).");
});

Task("Publish")
    .Description("Publish the trimmed, self-contained ReadyToRun portable-lb (as images/ipvs does) and run the controller tests against it.")
    .IsDependentOn("__InstallTestPrerequisites")
    .Does(() =>
{
    CleanDirectory(publishDir);
    DotNetPublish("./src/PortableLb/PortableLb.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = runtime,
        SelfContained = true,
        PublishTrimmed = true,
        PublishReadyToRun = true,
        OutputDirectory = publishDir,
    });
    // Trimming can remove what only reflection reaches; these tests start the published binary itself.
    DotNetTest("./tests/PortableLb.IntegrationTests/PortableLb.IntegrationTests.csproj", new DotNetTestSettings
    {
        Configuration = configuration,
        Filter = "FullyQualifiedName~PortableLb.IntegrationTests.Controller.Run",
        EnvironmentVariables = new Dictionary<string, string> { ["PORTABLE_LB_BINARY"] = MakeAbsolute(publishDir.Path.CombineWithFilePath("portable-lb")).FullPath },
    });
    Run(MakeAbsolute(publishDir.Path.CombineWithFilePath("portable-lb")).FullPath, $"render --out {artifacts}/publish-render");
});

Task("Images")
    .Description("docker build images/ipvs and images/exabgp when a Docker engine is present; otherwise say so and do nothing.")
    .Does(() =>
{
    if (!OnPath("docker") || StartProcess("docker", new ProcessSettings { Arguments = "info", RedirectStandardOutput = true, RedirectStandardError = true }) != 0)
    {
        Information("No Docker engine here: images not built. The Dockerfiles are checked by DockerfileTests instead.");
        return;
    }
    Run("docker", $"build -f images/ipvs/Dockerfile -t {imagePrefix}/ipvs:{imageTag} .");
    Run("docker", $"build -t {imagePrefix}/exabgp:{imageTag} images/exabgp");
});

Task("Default").IsDependentOn("Build");

RunTarget(target);

///////////////////////////////////////////////////////////////////////////////
// HELPERS
///////////////////////////////////////////////////////////////////////////////

bool OnPath(string program) =>
    (EnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(new[] { "/usr/sbin", "/sbin" })
        .Any(dir => System.IO.File.Exists(System.IO.Path.Combine(dir, program)));

bool IsRoot()
{
    var output = new List<string>();
    StartProcess("id", new ProcessSettings { Arguments = "-u", RedirectStandardOutput = true }, out var lines);
    return lines.FirstOrDefault()?.Trim() == "0";
}

void Run(string program, string arguments, IDictionary<string, string> environment = null)
{
    var exitCode = StartProcess(program, new ProcessSettings { Arguments = arguments, EnvironmentVariables = environment });
    if (exitCode != 0) throw new CakeException($"{program} {arguments} exited {exitCode}");
}

// Prints one plain "N passed, N failed, N skipped" line from the TRX files, the closing line CI reads.
void SummarizeTestResults()
{
    int passed = 0, failed = 0, skipped = 0;
    foreach (var trx in GetFiles($"{testResults}/*.trx"))
    {
        var counters = System.Xml.Linq.XDocument.Load(trx.FullPath).Descendants().FirstOrDefault(e => e.Name.LocalName == "Counters");
        if (counters is null) continue;
        int Count(string name) => int.TryParse(counters.Attribute(name)?.Value, out var n) ? n : 0;
        passed += Count("passed");
        failed += Count("failed") + Count("error") + Count("timeout") + Count("aborted");
        skipped += Count("notExecuted") + Count("inconclusive");
    }
    // Plain console output: Cake's own logging would colour the numbers, and CI reads this line as text.
    Console.WriteLine($"tests: {passed} passed, {failed} failed, {skipped} skipped");
}
