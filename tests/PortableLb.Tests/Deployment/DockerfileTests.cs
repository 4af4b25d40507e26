using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PortableLb.Tests.Deployment;

/// <summary>
/// There is no Docker engine here, so the images are checked for what would break their build or their start: every
/// apt package they install exists in their Debian release (against a cached index, offline), and every flag and
/// PORTABLE_LB_* setting of the entrypoint is one `portable-lb run` accepts.
/// </summary>
public sealed partial class DockerfileTests
{
    private static string Images => Path.Combine(Repository.Root, "images");

    public static IEnumerable<string> Dockerfiles() =>
        Directory.EnumerateFiles(Images, "Dockerfile", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Images, f)).Order(StringComparer.Ordinal);

    [GeneratedRegex(@"^FROM\s+debian:(?<release>[a-z]+)(-slim)?\s*$", RegexOptions.Multiline)]
    private static partial Regex DebianBase();

    [GeneratedRegex(@"apt-get install (?<args>(?:[^&\\\n]|\\\n)+)")]
    private static partial Regex AptInstall();

    [GeneratedRegex(@"^ENTRYPOINT\s+(?<json>\[.*\])\s*$", RegexOptions.Multiline)]
    private static partial Regex Entrypoint();

    [GeneratedRegex(@"\b(?<name>PORTABLE_LB_[A-Z_]+)=")]
    private static partial Regex PortableLbSetting();

    private static Dictionary<string, string> Index(string release)
    {
        var path = Path.Combine(Repository.Root, "tests", "testdata", "debian", $"{release}-main-amd64.txt.gz");
        Assert.That(File.Exists(path), Is.True, $"no cached package index for Debian {release}: run tests/testdata/debian/refresh.sh");
        using var reader = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
        var index = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            index[line[..space]] = line[(space + 1)..];
        }
        return index;
    }

    internal static IReadOnlyList<string> AptPackages(string dockerfile) =>
        AptInstall().Matches(dockerfile)
            .SelectMany(m => m.Groups["args"].Value.Replace("\\\n", " ", StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(a => !a.StartsWith('-'))
            .ToList();

    [TestCaseSource(nameof(Dockerfiles))]
    public void Every_apt_package_exists_in_the_images_Debian_release(string dockerfile)
    {
        var text = File.ReadAllText(Path.Combine(Images, dockerfile));
        var release = DebianBase().Match(text) is { Success: true } m ? m.Groups["release"].Value : null;
        Assert.That(release, Is.Not.Null, $"{dockerfile}: the runtime stage is not FROM debian:<release>-slim");
        var packages = AptPackages(text);
        Assert.That(packages, Is.Not.Empty);
        var index = Index(release!);
        Assert.That(packages.Where(p => !index.ContainsKey(p)), Is.Empty, $"{dockerfile}: not in Debian {release}");
    }

    [Test]
    public void The_ipvs_image_gets_a_keepalived_that_reloads_in_linear_time()
    {
        var version = Index("trixie")["keepalived"];
        var upstream = Regex.Match(version, @"^(\d+:)?(?<major>\d+)\.(?<minor>\d+)");
        var release = new Version(int.Parse(upstream.Groups["major"].Value), int.Parse(upstream.Groups["minor"].Value));
        Assert.That(release, Is.GreaterThanOrEqualTo(new Version(2, 3)), $"trixie's keepalived is {version}; 2.2.x reloads in O(real servers²)");
        Assert.That(AptPackages(File.ReadAllText(Path.Combine(Images, "ipvs", "Dockerfile"))), Is.SupersetOf(new[] { "keepalived", "ipvsadm", "iproute2", "nftables", "tini" }));
    }

    [Test]
    public void The_package_check_does_fail_on_a_package_trixie_lacks()
    {
        Assert.That(AptPackages("RUN apt-get install -y --no-install-recommends keepalived \\\n    no-such-package-here && rm -rf x"), Is.EqualTo(new[] { "keepalived", "no-such-package-here" }));
        Assert.That(Index("trixie").ContainsKey("no-such-package-here"), Is.False);
    }

    [Test]
    public void The_ipvs_entrypoint_and_settings_are_ones_portable_lb_run_accepts()
    {
        var text = File.ReadAllText(Path.Combine(Images, "ipvs", "Dockerfile"));
        var entrypoint = JsonSerializer.Deserialize<string[]>(Entrypoint().Match(text).Groups["json"].Value)!;
        var run = Array.IndexOf(entrypoint, "run");
        Assert.That(run, Is.GreaterThan(0), "the entrypoint runs `portable-lb run`");
        Assert.That(entrypoint[run - 1], Does.EndWith("/portable-lb"));
        var flags = ManifestTests.RunFlags();
        foreach (var flag in entrypoint.Skip(run + 1).Where(a => a.StartsWith("--", StringComparison.Ordinal)))
        {
            Assert.That(flags, Does.Contain(flag.Split('=')[0]));
        }
        var settings = PortableLbSetting().Matches(text).Select(m => m.Groups["name"].Value).ToList();
        Assert.That(settings, Is.Not.Empty);
        foreach (var setting in settings) Assert.That(flags, Does.Contain(ManifestTests.FlagOf(setting)), setting);
    }

    [Test]
    public void The_build_context_leaves_out_build_outputs_caches_and_the_git_folder()
    {
        var ignored = File.ReadAllLines(Repository.Path(".dockerignore")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.That(ignored, Is.SupersetOf(new[] { "**/bin/", "**/obj/", "artifacts/", ".cache/", ".git/" }));
    }
}
