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
// Images: the registry/name prefix and tag of the two images; the tag manifests/base pins by default, so that the
// pod tests run exactly the images the manifests name.
var imagePrefix = Argument("image-prefix", "portable-lb");
var imageTag = Argument("image-tag", "0.1.0");

///////////////////////////////////////////////////////////////////////////////
// GLOBAL VARIABLES
///////////////////////////////////////////////////////////////////////////////

var solution = File("./PortableLb.slnx");
var artifacts = Directory("./artifacts");
var testResults = artifacts + Directory("test-results");
// The NativeAOT build that images/ipvs ships.
var runtime = "linux-x64";
var publishDir = artifacts + Directory("publish") + Directory(runtime);
var manifestSchema = Directory("./tests/manifest-schema");
var inCi = string.Equals(EnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

// What each target needs from Debian, as (what must exist, the package that provides it). "What" is a program looked
// up on PATH (and in /usr/sbin, /sbin, where Debian puts daemons) or an absolute path to a file.
var demoPrerequisites = new (string Needed, string Package)[]
{
    ("keepalived", "keepalived"),   // `keepalived -t` validates ipvs.conf
    ("exabgp", "exabgp"),           // `exabgp --test` validates exabgp.conf
};
// What ./build.sh --target=Images needs to build with podman (as root) where no Docker engine runs, and to make the
// base images locally where no registry answers.
var imagePrerequisites = new (string Needed, string Package)[]
{
    ("podman", "podman"),
    ("runc", "runc"),
    ("/usr/lib/podman/netavark", "netavark"),
    ("/usr/lib/podman/aardvark-dns", "aardvark-dns"),
    ("/usr/libexec/podman/catatonit", "catatonit"), // the infra container of every pod
    ("iptables", "iptables"),                       // netavark 1.4's firewall driver, for the build's network
    ("debootstrap", "debootstrap"),
};

// NativeAOT links the compiled controller with the system's C toolchain (the SDK finds gcc when there is no clang).
var publishPrerequisites = demoPrerequisites.Concat(new (string Needed, string Package)[]
{
    ("gcc", "gcc"),
    ("/usr/include/stdio.h", "libc6-dev"),     // only recommended by gcc, and the link needs crt1.o and libc's headers
    ("/usr/include/zlib.h", "zlib1g-dev"),
}).ToArray();

var testPrerequisites = demoPrerequisites.Concat(imagePrerequisites).Concat(new (string Needed, string Package)[]
{
    ("gobgpd", "gobgpd"),
    ("gobgp", "gobgpd"),
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("sysctl", "procps"),
    ("vtysh", "frr"),
    ("ipvsadm", "ipvsadm"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("nginx", "nginx"),
    ("curl", "curl"),
    ("conntrack", "conntrack"),                     // the cluster lab reads the LB pods' NAT from conntrack
    ("wrk", "wrk"),
    ("python3", "python3"),
    ("node", "nodejs"),
    ("npm", "npm"),
}).ToArray();

// kubectl is not a Debian package (bookworm's kubernetes-client is 1.20): users install it by hand, and the Test
// target only checks it. 1.22 embeds kustomize 4.2, the first that reads the `labels:` field manifests/ uses.
var kubectlMinimum = new Version(1, 22);

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

Task("__InstallDemoPrerequisites")
    .Does(() => InstallDebianPackages(demoPrerequisites));

Task("__InstallTestPrerequisites")
    .Does(() => InstallDebianPackages(testPrerequisites));

Task("__CheckKubectl")
    .Does(() =>
{
    var found = KubectlVersion();
    if (found is { } version && version >= kubectlMinimum)
    {
        Information($"kubectl {version} (>= {kubectlMinimum})");
        return;
    }
    var problem = found is null ? "kubectl is not on PATH" : $"kubectl is {found}, older than {kubectlMinimum}";
    throw new CakeException($"{problem}: the manifest tests render manifests/ with `kubectl kustomize`, which needs kubectl {kubectlMinimum} or newer. "
        + "Debian 12's kubernetes-client is 1.20, too old; install kubectl from https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/.");
});

// The Kubernetes OpenAPI schema check of the manifests (tests/manifest-schema), pinned by its package-lock.json.
Task("__InstallSchemaCheck")
    .IsDependentOn("__InstallTestPrerequisites")
    .Does(() =>
{
    if (System.IO.Directory.Exists(manifestSchema + Directory("node_modules/kubernetes-models"))) return;
    if (!Present("npm"))
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
        EnvironmentVariables = Podman(),
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
    .Description("Install the daemons the tests use (when root), build the code and the images, and run every test.")
    .IsDependentOn("__InstallTestPrerequisites")
    .IsDependentOn("__CheckKubectl")
    .IsDependentOn("__InstallSchemaCheck")
    .IsDependentOn("Build")
    .IsDependentOn("Images")
    .IsDependentOn("__RunTests");

Task("Demo")
    .Description("The README's main job: render and validate the bundled thesis example into ./out.")
    .IsDependentOn("__InstallDemoPrerequisites")
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
    .Description("Publish the NativeAOT portable-lb (as images/ipvs does) and run the controller tests against it.")
    .IsDependentOn("__InstallPublishPrerequisites")
    .Does(() =>
{
    CleanDirectory(publishDir);
    DotNetPublish("./src/PortableLb/PortableLb.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = runtime,
        OutputDirectory = publishDir,
        MSBuildSettings = new DotNetMSBuildSettings().WithProperty("PublishAot", "true"),
    });
    // Trimming can remove what only reflection reaches; these tests start the published binary itself.
    DotNetTest("./tests/PortableLb.IntegrationTests/PortableLb.IntegrationTests.csproj", new DotNetTestSettings
    {
        Configuration = configuration,
        Filter = "FullyQualifiedName~PortableLb.IntegrationTests.Controller.Run|FullyQualifiedName~PortableLb.IntegrationTests.Controller.RenderGolden",
        EnvironmentVariables = new Dictionary<string, string> { ["PORTABLE_LB_BINARY"] = MakeAbsolute(publishDir.Path.CombineWithFilePath("portable-lb")).FullPath },
    });
    Run(MakeAbsolute(publishDir.Path.CombineWithFilePath("portable-lb")).FullPath, $"render --out {artifacts}/publish-render");
});

Task("__InstallPublishPrerequisites")
    .Does(() => InstallDebianPackages(publishPrerequisites));

Task("__InstallImagePrerequisites")
    .Does(() => InstallDebianPackages(imagePrerequisites));

Task("Images")
    .Description("Build portable-lb/ipvs and portable-lb/exabgp with podman (as root it installs podman and makes missing base images locally).")
    .IsDependentOn("__InstallImagePrerequisites")
    .Does(() =>
{
    var dockerfiles = new[] { "images/ipvs/Dockerfile", "images/exabgp/Dockerfile" };
    Run("bash", "images/base-images.sh " + string.Join(" ", dockerfiles), Podman());
    // --pull=never: the bases are local (pulled or made above); asking a registry again would only fail here.
    Run("podman", $"build --pull=never -f images/ipvs/Dockerfile -t {imagePrefix}/ipvs:{imageTag} .", Podman());
    Run("podman", $"build --pull=never -f images/exabgp/Dockerfile -t {imagePrefix}/exabgp:{imageTag} images/exabgp", Podman());
});

Task("Default").IsDependentOn("Build");

RunTarget(target);

///////////////////////////////////////////////////////////////////////////////
// HELPERS
///////////////////////////////////////////////////////////////////////////////

bool Present(string needed) => needed.StartsWith("/")
    ? System.IO.File.Exists(needed)
    : (EnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(new[] { "/usr/sbin", "/sbin" })
        .Any(dir => System.IO.File.Exists(System.IO.Path.Combine(dir, needed)));

// Installs the Debian packages of whatever is missing (as root), or says exactly what to run (otherwise; an error
// under CI, which must have everything).
void InstallDebianPackages(IReadOnlyList<(string Needed, string Package)> prerequisites)
{
    var missing = prerequisites.Where(p => !Present(p.Needed)).Select(p => p.Package).Distinct().ToList();
    if (missing.Count == 0)
    {
        Information("Present: " + string.Join(", ", prerequisites.Select(p => p.Needed)));
        return;
    }
    var packages = string.Join(" ", missing);
    if (!IsRoot())
    {
        Warning($"Missing Debian packages: {packages}. Install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends {packages}");
        if (inCi) throw new CakeException("CI needs every prerequisite installed.");
        return;
    }
    Information($"Installing {packages}");
    var environment = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
    Run("apt-get", "update -qq", environment);
    Run("apt-get", $"install -y -qq --no-install-recommends {packages}", environment);
    var stillMissing = prerequisites.Where(p => !Present(p.Needed)).Select(p => $"{p.Needed} ({p.Package})").ToList();
    if (stillMissing.Count > 0) throw new CakeException($"apt-get installed {packages}, but these are still missing: {string.Join(", ", stillMissing)}");
}

Version KubectlVersion()
{
    if (!Present("kubectl")) return null;
    var exitCode = StartProcess("kubectl", new ProcessSettings { Arguments = "version --client -o json", RedirectStandardOutput = true, RedirectStandardError = true }, out var lines);
    if (exitCode != 0) return null;
    using var json = System.Text.Json.JsonDocument.Parse(string.Join("\n", lines));
    var client = json.RootElement.GetProperty("clientVersion");
    var minor = new string(client.GetProperty("minor").GetString().TakeWhile(char.IsDigit).ToArray());
    return new Version(int.Parse(client.GetProperty("major").GetString()), int.Parse(minor));
}

bool IsRoot()
{
    StartProcess("id", new ProcessSettings { Arguments = "-u", RedirectStandardOutput = true }, out var lines);
    return lines.FirstOrDefault()?.Trim() == "0";
}

// podman with the project's own settings (images/containers.conf), leaving /etc/containers alone. podman's overlay
// driver cannot keep its storage on overlayfs (a build inside a container, some CI runners): there the images are
// built with the vfs driver (images/storage-vfs.conf), slower and larger but working anywhere. The tests get the same
// environment.
IDictionary<string, string> Podman()
{
    var settings = new Dictionary<string, string> { ["CONTAINERS_CONF"] = MakeAbsolute(File("images/containers.conf")).FullPath };
    var storage = "/var/lib/containers/storage";
    while (!System.IO.Directory.Exists(storage)) storage = System.IO.Path.GetDirectoryName(storage);
    StartProcess("stat", new ProcessSettings { Arguments = $"-f -c %T {storage}", RedirectStandardOutput = true }, out var fileSystem);
    if (fileSystem.FirstOrDefault()?.Trim() == "overlayfs") settings["CONTAINERS_STORAGE_CONF"] = MakeAbsolute(File("images/storage-vfs.conf")).FullPath;
    return settings;
}

void Run(string program, string arguments, IDictionary<string, string> environment = null)
{
    var exitCode = StartProcess(program, new ProcessSettings { Arguments = arguments, EnvironmentVariables = environment });
    if (exitCode != 0) throw new CakeException($"{program} {arguments} exited {exitCode}");
}

// Prints each failed test, then one plain "N passed, N failed, N skipped" line from the TRX files, the closing line CI reads.
void SummarizeTestResults()
{
    int passed = 0, failed = 0, skipped = 0;
    var failures = new List<(string Name, string Message)>();
    foreach (var trx in GetFiles($"{testResults}/*.trx"))
    {
        var document = System.Xml.Linq.XDocument.Load(trx.FullPath);
        var counters = document.Descendants().FirstOrDefault(e => e.Name.LocalName == "Counters");
        if (counters is null) continue;
        int Count(string name) => int.TryParse(counters.Attribute(name)?.Value, out var n) ? n : 0;
        passed += Count("passed");
        failed += Count("failed") + Count("error") + Count("timeout") + Count("aborted");
        skipped += Count("notExecuted") + Count("inconclusive");
        failures.AddRange(FailedTests(document));
    }
    // A CI log keeps only its tail, where the runner's own "Failed" lines are long gone: name them again here.
    foreach (var (name, message) in failures)
        Console.WriteLine($"failed: {name}\n  {message.ReplaceLineEndings("\n  ")}");
    // Plain console output: Cake's own logging would colour the numbers, and CI reads this line as text.
    Console.WriteLine($"tests: {passed} passed, {failed} failed, {skipped} skipped");
}

// The failed results of one trx file, each with the first lines of its message (the stack trace is in the file).
IEnumerable<(string Name, string Message)> FailedTests(System.Xml.Linq.XDocument trx)
{
    foreach (var result in trx.Descendants().Where(e => e.Name.LocalName == "UnitTestResult"))
    {
        var outcome = result.Attribute("outcome")?.Value;
        if (outcome is "Passed" or "NotExecuted" or "Inconclusive") continue;
        var message = result.Descendants().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value ?? outcome ?? "";
        var firstLines = string.Join("\n", message.Split('\n').Take(40));
        yield return (result.Attribute("testName")?.Value ?? "?", firstLines);
    }
}
