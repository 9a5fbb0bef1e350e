using System.Diagnostics;
using TokenSieve.Fuzzing;

namespace TokenSieve.Bench.Fuzz;

/// <summary><c>fuzz [--cases N] [--seed S] [--classes a,b] [--watchdog-s 10] [--limit-gib 3] [--out DIR] [--data DIR] [--peak K]</c>:
/// the long run of issue 18's fuzzer (the engine is shared with the test suite's short run, from
/// tests/TokenSieve.Tests/Fuzz/Engine). Prints the table of the issue. The run re-executes itself
/// under <c>DOTNET_GCHeapHardLimit</c> = the memory limit, so a blow-up ends as an
/// OutOfMemoryException (counted) instead of taking the machine down. With <c>--peak K</c> the K
/// accepted inputs under 1 MB that allocated most are replayed, each in a fresh process, to measure
/// their peak resident memory (VmHWM).</summary>
public static class FuzzCommand
{
    public static int Run(string[] args)
    {
        long cases = 10_000;
        ulong seed = 1;
        string? classes = null, outDir = null, dataDir = null;
        double watchdog = 10, limitGib = 3;
        int peak = 3;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--cases": cases = long.Parse(args[i + 1]); break;
                case "--seed": seed = ulong.Parse(args[i + 1]); break;
                case "--classes": classes = args[i + 1]; break;
                case "--watchdog-s": watchdog = double.Parse(args[i + 1]); break;
                case "--limit-gib": limitGib = double.Parse(args[i + 1]); break;
                case "--out": outDir = args[i + 1]; break;
                case "--data": dataDir = args[i + 1]; break;
                case "--peak": peak = int.Parse(args[i + 1]); break;
                default:
                    Console.Error.WriteLine($"fuzz: unknown option {args[i]}");
                    return 2;
            }
        }
        long limit = (long)(limitGib * (1L << 30));
        if (Environment.GetEnvironmentVariable("DOTNET_GCHeapHardLimit") is null && Environment.GetEnvironmentVariable("TOKENSIEVE_FUZZ_CHILD") is null)
            return ReExec(limit);
        dataDir ??= FindData();
        var options = new FuzzOptions
        {
            Watchdog = TimeSpan.FromSeconds(watchdog),
            MemoryLimitBytes = limit,
            FailureDir = outDir ?? Path.Combine(Path.GetTempPath(), "tokensieve-fuzz-failures"),
            Progress = Console.Out,
        };
        var targets = FuzzTarget.All(dataDir).Where(t => classes is null || classes.Split(',').Contains(t.Key)).ToList();
        var results = new List<FuzzClassResult>();
        string work = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), "tokensieve-fuzz-" + Environment.ProcessId);
        Console.WriteLine($"fuzz: seed {seed}, {cases} cases per class, watchdog {watchdog} s, memory limit {limitGib} GiB (GC hard limit {Environment.GetEnvironmentVariable("DOTNET_GCHeapHardLimit")}), data {dataDir}");
        try
        {
            foreach (var t in targets)
            {
                var r = FuzzRunner.Run(t, seed, cases, options, Path.Combine(work, t.Key));
                results.Add(r);
                Console.WriteLine($"{t.Title}: {r.TotalSeconds:F0} s, slowest case {r.SlowestMilliseconds:F0} ms, peak resident {r.PeakResidentBytes >> 20} MiB");
            }
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
        Console.WriteLine();
        Console.WriteLine(FuzzRunner.Table(results, options));
        foreach (var r in results)
        {
            Console.WriteLine($"{r.Title}: typed errors by type: {string.Join(", ", r.TypedByException.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value:N0}"))}");
            if (r.WorstAccepted is { } w)
                Console.WriteLine($"  worst accepted input under 1 MB: case {w.Index} ({w.InputBytes:N0} bytes) allocated {w.AllocatedBytes / (double)(1 << 20):F1} MiB in {w.Milliseconds:F0} ms");
            foreach (var f in r.Failures.Take(10)) Console.WriteLine($"  case {f.Index}: {f.Outcome}: {f.Error}");
        }
        if (peak > 0) MeasurePeaks(results, targets, seed, peak, dataDir);
        return results.Any(r => r.Failures.Count > 0) ? 1 : 0;
    }

    /// <summary>Replays the accepted small inputs that allocated most, each in a fresh process, and
    /// prints the process's peak resident memory next to a process that loads nothing.</summary>
    static void MeasurePeaks(List<FuzzClassResult> results, List<FuzzTarget> targets, ulong seed, int count, string dataDir)
    {
        Console.WriteLine();
        Console.WriteLine("Peak resident memory (VmHWM) of fresh processes:");
        Console.WriteLine($"  baseline (engine loaded, no input): {Replay("images", seed, -1, dataDir)}");
        foreach (var r in results)
        {
            if (r.WorstAccepted is null) continue;
            // Re-run the class's top cases by allocation (the runner keeps only the worst; recompute a few around it).
            Console.WriteLine($"  {r.Title}, case {r.WorstAccepted.Index} ({r.WorstAccepted.InputBytes:N0} bytes): {Replay(r.Key, seed, r.WorstAccepted.Index, dataDir)}");
        }
    }

    static string Replay(string key, ulong seed, long index, string dataDir)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        AddHostArgs(psi);
        foreach (var a in new[] { "fuzz-replay", key, seed.ToString(), index.ToString(), dataDir }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return output;
    }

    /// <summary><c>fuzz-replay KEY SEED INDEX DATA</c>: runs one case (INDEX −1: none) and prints the outcome and VmHWM.</summary>
    public static int Replay(string[] args)
    {
        string key = args[0], dataDir = args[3];
        ulong seed = ulong.Parse(args[1]);
        long index = long.Parse(args[2]);
        var target = FuzzTarget.All(dataDir).Single(t => t.Key == key);
        string work = Path.Combine(Path.GetTempPath(), "tokensieve-fuzz-replay-" + Environment.ProcessId);
        Directory.CreateDirectory(work);
        target.Prepare(work);
        string outcome = "no input";
        if (index >= 0)
        {
            var input = target.Generate(FuzzRandom.ForCase(seed, key, index));
            var r = FuzzRunner.RunOne(target, input, index, new FuzzOptions(), work, out _);
            outcome = $"{r.Outcome}, {input.Size:N0}-byte input, {r.AllocatedBytes / (double)(1 << 20):F1} MiB allocated";
        }
        try { Directory.Delete(work, true); } catch (IOException) { }
        long? hwm = FuzzRunner.PeakResidentBytes();
        Console.WriteLine($"{outcome}; peak resident {(hwm is long h ? $"{h / (double)(1 << 20):F0} MiB" : "n/a")}");
        return 0;
    }

    static int ReExec(long limit)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        AddHostArgs(psi);
        foreach (var a in Environment.GetCommandLineArgs().Skip(1)) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_GCHeapHardLimit"] = "0x" + limit.ToString("X");
        psi.Environment["TOKENSIEVE_FUZZ_CHILD"] = "1";
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    /// <summary>Under the <c>dotnet</c> host the program's dll comes first.</summary>
    static void AddHostArgs(ProcessStartInfo psi)
    {
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
    }

    /// <summary>tests/TokenSieve.Tests/data, found upwards from the working folder or the executable.</summary>
    static string FindData()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "tests", "TokenSieve.Tests", "data");
                if (Directory.Exists(Path.Combine(candidate, "images"))) return candidate;
            }
        throw new DirectoryNotFoundException("tests/TokenSieve.Tests/data not found; pass --data DIR");
    }
}
