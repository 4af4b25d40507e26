namespace PortableLb.Apply;

/// <summary>A file PortableLb writes for a daemon: its name in the config folder, its mode, and who reads it.</summary>
public sealed record ConfigFile(string Name, UnixFileMode Mode, Daemon Reader);

/// <summary>
/// The daemons' files in one folder (the pod's shared volume for `run`, --out for `render`): defined here once, so
/// both commands write the same names with the same modes.
/// </summary>
public sealed class ConfigFiles(string directory)
{
    /// <summary>keepalived's virtual servers. World-readable: nothing in it is secret.</summary>
    public static ConfigFile Ipvs { get; } = new("ipvs.conf",
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, Daemon.Keepalived);

    /// <summary>exabgp's neighbours and routes. Owner and group only: it can hold the BGP password, and the exabgp
    /// container reads it through the pod's fsGroup.</summary>
    public static ConfigFile Exabgp { get; } = new("exabgp.conf",
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, Daemon.Exabgp);

    public static IReadOnlyList<ConfigFile> All { get; } = [Ipvs, Exabgp];

    /// <summary>keepalived's reload_file handshake, beside the config it guards; ipvs.conf names it.</summary>
    public const string KeepalivedReloadName = "keepalived.reload";

    public string Directory { get; } = Path.GetFullPath(directory);

    public string PathOf(ConfigFile file) => Path.Combine(Directory, file.Name);

    public string KeepalivedReload => Path.Combine(Directory, KeepalivedReloadName);
}
