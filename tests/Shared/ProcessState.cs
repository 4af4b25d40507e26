namespace PortableLb.Testing;

/// <summary>What /proc says of a process a test started.</summary>
public static class ProcessState
{
    /// <summary>Gone, or a zombie that only its new parent has not reaped yet.</summary>
    public static bool Gone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
