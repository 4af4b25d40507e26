using System.Text;
using PortableLb.Apply;

namespace PortableLb.Tests.Apply;

public sealed class AtomicFileWriterTests
{
    private static readonly UnixFileMode Mode = ConfigFiles.Ipvs.Mode;
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("portable-lb-writer-").FullName;

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task A_new_file_is_written_and_its_folder_created()
    {
        var path = Path.Combine(_folder, "sub", "ipvs.conf");
        Assert.That(await AtomicFileWriter.WriteAsync(path, "a\n", Mode), Is.EqualTo(WriteOutcome.Written));
        Assert.That(await File.ReadAllTextAsync(path), Is.EqualTo("a\n"));
    }

    [Test]
    public async Task Equal_bytes_are_not_written_again()
    {
        var path = Path.Combine(_folder, "ipvs.conf");
        await AtomicFileWriter.WriteAsync(path, "same\n", Mode);
        var before = File.GetLastWriteTimeUtc(path);
        File.SetLastWriteTimeUtc(path, before.AddHours(-1));

        Assert.That(await AtomicFileWriter.WriteAsync(path, "same\n", Mode), Is.EqualTo(WriteOutcome.Unchanged));
        Assert.That(File.GetLastWriteTimeUtc(path), Is.EqualTo(before.AddHours(-1)), "the file was not touched");
    }

    [Test]
    public async Task Changed_bytes_replace_the_file_and_leave_no_temp_file()
    {
        var path = Path.Combine(_folder, "ipvs.conf");
        await AtomicFileWriter.WriteAsync(path, "old\n", Mode);
        Assert.That(await AtomicFileWriter.WriteAsync(path, "new, longer\n", Mode), Is.EqualTo(WriteOutcome.Written));
        Assert.That(await AtomicFileWriter.WriteAsync(path, "new, same len\n"[..12], Mode), Is.EqualTo(WriteOutcome.Written), "same length, other bytes");
        Assert.That(Directory.GetFiles(_folder).Select(Path.GetFileName), Is.EqualTo(new[] { "ipvs.conf" }));
    }

    [Test]
    public async Task A_reader_sees_the_old_or_the_new_file_never_a_mix()
    {
        var path = Path.Combine(_folder, "ipvs.conf");
        var versions = Enumerable.Range(0, 2).Select(i => new string((char)('a' + i), 256 * 1024)).ToArray();
        await AtomicFileWriter.WriteAsync(path, versions[0], Mode);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var torn = 0;
        var reads = 0;
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && reads < 2000)
            {
                var text = Encoding.UTF8.GetString(await File.ReadAllBytesAsync(path));
                if (!versions.Contains(text)) torn++;
                reads++;
            }
        });
        for (var i = 0; i < 200 && !reader.IsCompleted; i++)
        {
            await AtomicFileWriter.WriteAsync(path, versions[(i + 1) % 2], Mode);
        }
        await stop.CancelAsync();
        await reader;

        Assert.That(reads, Is.GreaterThan(0));
        Assert.That(torn, Is.Zero);
    }

    [Test]
    public async Task Equal_bytes_are_not_rewritten_but_get_the_mode_they_should_have()
    {
        var path = Path.Combine(_folder, "exabgp.conf");
        await AtomicFileWriter.WriteAsync(path, "neighbor\n", ConfigFiles.Ipvs.Mode);
        var written = File.GetLastWriteTimeUtc(path);

        Assert.That(await AtomicFileWriter.WriteAsync(path, "neighbor\n", ConfigFiles.Exabgp.Mode), Is.EqualTo(WriteOutcome.Unchanged));
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(ConfigFiles.Exabgp.Mode));
        Assert.That(File.GetLastWriteTimeUtc(path), Is.EqualTo(written));
    }
}
