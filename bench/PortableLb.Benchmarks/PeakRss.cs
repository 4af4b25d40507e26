using System.Diagnostics;
using System.Runtime.InteropServices;

namespace PortableLb.Benchmarks;

/// <summary>
/// Peak RSS of one `portable-lb render` process. The kernel's ru_maxrss for RUSAGE_CHILDREN is the largest waited-for
/// child, so each size is measured in a fresh copy of this program that starts exactly one portable-lb.
/// </summary>
public static partial class PeakRss
{
    public static int Report(int[] sizes)
    {
        Console.WriteLine("| endpoints | peak RSS of `portable-lb render --no-validate` |");
        Console.WriteLine("|---:|---:|");
        foreach (var size in sizes)
        {
            using var self = Process.Start(new ProcessStartInfo("dotnet", [typeof(PeakRss).Assembly.Location, "peak-rss-one", size.ToString()])
            {
                RedirectStandardOutput = true,
            })!;
            var kib = self.StandardOutput.ReadToEnd().Trim();
            self.WaitForExit();
            Console.WriteLine($"| {size:N0} | {(long.TryParse(kib, out var k) ? $"{k / 1024.0:0.0} MiB" : kib)} |");
        }
        return 0;
    }

    public static int MeasureOne(int endpoints)
    {
        var folder = Directory.CreateTempSubdirectory("portable-lb-rss-").FullName;
        try
        {
            var objects = Path.Combine(folder, "objects.yaml");
            var tuning = Path.Combine(folder, "tuning.yaml");
            File.WriteAllText(objects, SyntheticCluster.Manifests(endpoints));
            File.WriteAllText(tuning, SyntheticCluster.Tuning);
            var dll = Path.Combine(AppContext.BaseDirectory, "portable-lb.dll");
            var start = new ProcessStartInfo("dotnet", [dll, "render", "--objects", objects, "--tuning", tuning, "--node-ip", "198.18.255.1", "--pod-ip", "198.18.254.1", "--out", Path.Combine(folder, "out"), "--no-validate"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var child = Process.Start(start)!;
            child.StandardOutput.ReadToEnd();
            child.StandardError.ReadToEnd();
            child.WaitForExit();
            if (child.ExitCode != 0) throw new InvalidOperationException($"portable-lb render exited {child.ExitCode}");
            Console.WriteLine(MaxRssOfChildrenKiB());
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static long MaxRssOfChildrenKiB()
    {
        const int RusageChildren = -1;
        var usage = new long[18];
        if (GetRusage(RusageChildren, usage) != 0) throw new InvalidOperationException("getrusage failed");
        // struct rusage: two timevals (4 longs), then ru_maxrss.
        return usage[4];
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetRusage(int who, [Out] long[] usage);
}
