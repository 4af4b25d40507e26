namespace PortableLb.Testing;

/// <summary>The checkout the tests run from: found by walking up from the test assembly to build.cake.</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string Find()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(folder.FullName, "build.cake"))) return folder.FullName;
        }
        throw new FileNotFoundException("build.cake not found above " + AppContext.BaseDirectory);
    }
}
