namespace TokenSieve.Numerics;

/// <summary>Resident memory of this process, from /proc/self/status (Linux; 0 elsewhere), for the
/// memory and speed benchmarks.</summary>
internal static class ProcessMemory
{
    /// <summary>Current resident set size in bytes (VmRSS).</summary>
    public static long Resident => Field("VmRSS");

    /// <summary>Peak resident set size in bytes (VmHWM, the high-water mark).</summary>
    public static long PeakResident => Field("VmHWM");

    static long Field(string name)
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return 0;
        foreach (var line in File.ReadLines(path))
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
                return long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        return 0;
    }
}
