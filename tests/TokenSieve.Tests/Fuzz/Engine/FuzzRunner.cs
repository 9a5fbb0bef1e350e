using System.Diagnostics;
using System.Text;

namespace TokenSieve.Fuzzing;

public enum FuzzOutcome { Accepted, TypedError, Untyped, Hang, Memory }

/// <summary>What happened to one case.</summary>
public sealed record FuzzCaseResult(long Index, FuzzOutcome Outcome, string? Error, long AllocatedBytes, long InputBytes, double Milliseconds);

/// <summary>Counts for one class, plus the cases worth looking at.</summary>
public sealed class FuzzClassResult(string key, string title)
{
    public string Key { get; } = key;
    public string Title { get; } = title;
    public long Tried { get; internal set; }
    public readonly Dictionary<FuzzOutcome, long> Counts = Enum.GetValues<FuzzOutcome>().ToDictionary(o => o, _ => 0L);
    public readonly Dictionary<string, long> TypedByException = new();
    public readonly List<FuzzCaseResult> Failures = new();
    /// <summary>The accepted case under 1 MB that allocated the most managed memory.</summary>
    public FuzzCaseResult? WorstAccepted { get; internal set; }
    public long PeakResidentBytes { get; internal set; }
    public double SlowestMilliseconds { get; internal set; }
    public double TotalSeconds { get; internal set; }
    public bool Stopped { get; internal set; }
    public long this[FuzzOutcome o] => Counts[o];
}

public sealed record FuzzOptions
{
    /// <summary>A case still running after this is a hang (its thread is abandoned).</summary>
    public TimeSpan Watchdog { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>A case allocating more than this, or during which the process is resident above it,
    /// is a memory blow-up (also: OutOfMemoryException, e.g. under DOTNET_GCHeapHardLimit).</summary>
    public long MemoryLimitBytes { get; init; } = 3L << 30;
    /// <summary>Resident-set bound for the whole process during a case (defaults to <see cref="MemoryLimitBytes"/>).</summary>
    public long? ResidentLimitBytes { get; init; }
    /// <summary>Give up on a class after this many hangs (abandoned threads keep a core busy).</summary>
    public int MaxHangs { get; init; } = 5;
    /// <summary>Where failing inputs are written (null: not saved).</summary>
    public string? FailureDir { get; init; }
    public TextWriter? Progress { get; init; }
}

/// <summary>Runs generated cases against a target, each on its own thread under a watchdog and a
/// memory guard, and classifies them: accepted, typed error (a <see cref="TokenSieveException"/>),
/// untyped exception, hang, memory blow-up. A typed error that wraps a programming-error exception
/// (index out of range, null reference, argument, overflow, …) counts as untyped: it means a decoder
/// or parser failed and was only caught by a catch-all.</summary>
public static class FuzzRunner
{
    public const long SmallFileBytes = 1 << 20;

    public static bool IsBug(Exception e)
    {
        for (var x = e.InnerException; x is not null; x = x.InnerException)
            if (x is IndexOutOfRangeException or NullReferenceException or ArgumentException or OverflowException or DivideByZeroException
                or InvalidCastException or InvalidOperationException or AccessViolationException or ArithmeticException or FormatException)
                return true;
        return false;
    }

    public static FuzzClassResult Run(FuzzTarget target, ulong seed, long cases, FuzzOptions options, string workDir, long firstIndex = 0)
    {
        Directory.CreateDirectory(workDir);
        target.Prepare(workDir);
        var result = new FuzzClassResult(target.Key, target.Title);
        var total = Stopwatch.StartNew();
        int hangs = 0;
        for (long i = firstIndex; i < firstIndex + cases; i++)
        {
            var input = target.Generate(FuzzRandom.ForCase(seed, target.Key, i));
            var r = RunOne(target, input, i, options, workDir, out long peakRss);
            result.Tried++;
            result.Counts[r.Outcome]++;
            result.PeakResidentBytes = Math.Max(result.PeakResidentBytes, peakRss);
            result.SlowestMilliseconds = Math.Max(result.SlowestMilliseconds, r.Milliseconds);
            if (r.Outcome == FuzzOutcome.TypedError)
            {
                string type = r.Error!.Split(':', 2)[0];
                result.TypedByException[type] = result.TypedByException.GetValueOrDefault(type) + 1;
            }
            else if (r.Outcome == FuzzOutcome.Accepted)
            {
                if (r.InputBytes < SmallFileBytes && (result.WorstAccepted is null || r.AllocatedBytes > result.WorstAccepted.AllocatedBytes)) result.WorstAccepted = r;
            }
            else
            {
                result.Failures.Add(r);
                Save(options, target, seed, input, r);
                options.Progress?.WriteLine($"  {target.Key} case {i}: {r.Outcome}: {r.Error}");
                if (r.Outcome == FuzzOutcome.Hang && ++hangs >= options.MaxHangs)
                {
                    result.Stopped = true;
                    break;
                }
            }
            if (options.Progress is not null && (i - firstIndex + 1) % 1000 == 0)
                options.Progress.WriteLine($"  {target.Key}: {i - firstIndex + 1} cases, {total.Elapsed.TotalSeconds:F0} s");
        }
        result.TotalSeconds = total.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>Runs one case on a fresh thread and classifies it.</summary>
    public static FuzzCaseResult RunOne(FuzzTarget target, FuzzCase input, long index, FuzzOptions options, string workDir, out long peakRss)
    {
        Exception? error = null;
        long allocated = 0;
        var done = new ManualResetEventSlim();
        var sw = Stopwatch.StartNew();
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                target.Run(input, workDir);
            }
            catch (Exception e)
            {
                error = e;
            }
            finally
            {
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                done.Set();
            }
        }, 16 << 20)
        {
            IsBackground = true,
            Name = $"fuzz {target.Key} {index}",
        };
        thread.Start();
        peakRss = ResidentBytes();
        bool finished = false;
        while (sw.Elapsed < options.Watchdog)
        {
            if (done.Wait(10))
            {
                finished = true;
                break;
            }
            peakRss = Math.Max(peakRss, ResidentBytes());
        }
        double ms = sw.Elapsed.TotalMilliseconds;
        peakRss = Math.Max(peakRss, ResidentBytes());
        if (!finished) return new FuzzCaseResult(index, FuzzOutcome.Hang, $"still running after {options.Watchdog.TotalSeconds:F0} s", 0, input.Size, ms);
        if (error is OutOfMemoryException || allocated > options.MemoryLimitBytes || peakRss > (options.ResidentLimitBytes ?? options.MemoryLimitBytes))
            return new FuzzCaseResult(index, FuzzOutcome.Memory, $"allocated {allocated >> 20} MiB, resident {peakRss >> 20} MiB{(error is null ? "" : ": " + Describe(error))}", allocated, input.Size, ms);
        if (error is null) return new FuzzCaseResult(index, FuzzOutcome.Accepted, null, allocated, input.Size, ms);
        if (error is TokenSieveException && !IsBug(error))
            return new FuzzCaseResult(index, FuzzOutcome.TypedError, error.GetType().Name + ": " + error.Message, allocated, input.Size, ms);
        return new FuzzCaseResult(index, FuzzOutcome.Untyped, Describe(error), allocated, input.Size, ms);
    }

    static string Describe(Exception e)
    {
        var sb = new StringBuilder();
        sb.Append(e.GetType().Name).Append(": ").Append(e.Message);
        if (e.InnerException is { } inner) sb.Append(" <- ").Append(inner.GetType().Name).Append(": ").Append(inner.Message);
        var frame = (e.InnerException ?? e).StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("TokenSieve") || l.Contains("Stb"))?.Trim();
        if (frame is not null) sb.Append(" [").Append(frame).Append(']');
        return sb.ToString();
    }

    static void Save(FuzzOptions options, FuzzTarget target, ulong seed, FuzzCase input, FuzzCaseResult r)
    {
        if (options.FailureDir is null) return;
        Directory.CreateDirectory(options.FailureDir);
        string stem = Path.Combine(options.FailureDir, $"{target.Key}-{seed}-{r.Index}");
        if (input.Text is not null) File.WriteAllText(stem + ".txt", input.Text);
        foreach (var (name, bytes) in input.Files) File.WriteAllBytes($"{stem}-{name}", bytes);
        File.WriteAllText(stem + ".error.txt", $"{r.Outcome}: {r.Error}\n");
    }

    /// <summary>Resident set size of this process (Linux /proc; the working set elsewhere).</summary>
    public static long ResidentBytes()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                var parts = File.ReadAllText("/proc/self/statm").Split(' ');
                return long.Parse(parts[1]) * Environment.SystemPageSize;
            }
        }
        catch (IOException)
        {
        }
        return Environment.WorkingSet;
    }

    /// <summary>Peak resident set size of this process so far (Linux VmHWM; null elsewhere).</summary>
    public static long? PeakResidentBytes()
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (var line in File.ReadAllLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        return null;
    }

    /// <summary>The issue's table, plus accepted counts.</summary>
    public static string Table(IEnumerable<FuzzClassResult> results, FuzzOptions options)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"| class | tried | typed error | untyped exception | hang > {options.Watchdog.TotalSeconds:F0} s | > {options.MemoryLimitBytes / (double)(1L << 30):0.#} GiB | accepted |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in results)
            sb.AppendLine($"| {r.Title} | {r.Tried:N0} | {r[FuzzOutcome.TypedError]:N0} | {r[FuzzOutcome.Untyped]:N0} | {r[FuzzOutcome.Hang]:N0} | {r[FuzzOutcome.Memory]:N0} | {r[FuzzOutcome.Accepted]:N0} |");
        return sb.ToString();
    }
}
