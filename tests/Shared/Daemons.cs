namespace PortableLb.Testing;

/// <summary>
/// Tests that need a real daemon call Require first. On a developer's machine without it the test is ignored with
/// the install hint; under CI=true a missing daemon fails the test, so a green CI always means the daemons ran.
/// </summary>
public static partial class Daemons
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Require(params string[] programs)
    {
        var missing = programs.Where(p => Find(p) is null).ToList();
        if (missing.Count == 0) return;
        var message = $"needs {string.Join(", ", missing)} on PATH (Debian: apt-get install {string.Join(" ", missing.Select(PackageOf))}; ./build.sh --target=Test installs them when run as root)";
        if (InCi) Assert.Fail(message);
        Assert.Ignore(message);
    }

    /// <summary>A prerequisite that is not a program on PATH (an npm package, a cache): same rule as Require.</summary>
    public static void Missing(string what, string install)
    {
        var message = $"needs {what} ({install}; ./build.sh --target=Test installs it)";
        if (InCi) Assert.Fail(message);
        Assert.Ignore(message);
    }

    /// <summary>Network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); CI runs as root.</summary>
    public static void RequireRoot()
    {
        if (Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root" || Geteuid() == 0) return;
        const string message = "needs root for network namespaces (ip netns add)";
        if (InCi) Assert.Fail(message);
        Assert.Ignore(message);
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint Geteuid();

    public static string? Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin"])
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);

    private static string PackageOf(string program) => program switch
    {
        "gobgpd" or "gobgp" => "gobgpd",
        "vtysh" => "frr",
        "ip" => "iproute2",
        "nft" => "nftables",
        "node" => "nodejs",
        "qemu-system-x86_64" => "qemu-system-x86",
        "dpkg-deb" => "dpkg",
        "apt-get" => "apt",
        _ => program,
    };
}
