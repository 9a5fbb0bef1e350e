using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Bench.Decode;

/// <summary>`llm` mode: the language model alone, measured as llama-bench measures it — pp N: prefill of N random
/// tokens into an empty cache; tg N: N single-token decode steps from an empty cache — per weight type, optionally
/// next to llama-bench itself on the same model's GGUF files (written by `tokensieve quantize --format llama.cpp`),
/// alternating engines per weight type so machine drift falls on both. Every cell is the median tokens/s of the
/// repetitions with their min–max (llama-bench's per-repetition samples_ts for its side); ratios are of medians.
/// The bandwidth bound is the in-process streaming-read probe, taken before and after the measurements.
/// Usage: llm --model DIR [--weights f16,q8_0,q4_0] [--threads 2] [--pp 128,640] [--tg 64] [--reps 5]
///            [--llama-bench PATH --gguf-dir DIR]</summary>
public static class DecodeBench
{
    public static int Run(string[] args)
    {
        string? model = null, llamaBench = null, ggufDir = null;
        string[] weights = ["f16", "q8_0", "q4_0"];
        int threads = 2, tg = 64, reps = 5;
        int[] pp = [128, 640];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--weights": weights = args[++i].Split(','); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--pp": pp = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--tg": tg = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--llama-bench": llamaBench = args[++i]; break;
                case "--gguf-dir": ggufDir = args[++i]; break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        if (model is null)
        {
            Console.Error.WriteLine("llm --model DIR [--weights f16,q8_0,q4_0] [--threads 2] [--pp 128,640] [--tg 64] [--reps 5] [--llama-bench PATH --gguf-dir DIR]");
            return 2;
        }
        var ctx = new ComputeContext(threads);
        Console.Error.WriteLine("probing bandwidth…");
        double bandwidthBefore = MachineProbe.ReadBandwidth(threads);
        var rows = new List<Row>();
        var memory = new List<string>();
        foreach (var w in weights)
        {
            Console.Error.WriteLine($"TokenSieve {w}…");
            var ours = MeasureOurs(model, w, ctx, pp, tg, reps, out long decodeBytes, out string mem);
            memory.Add(mem);
            Dictionary<string, Stats>? theirs = null;
            if (llamaBench is not null && ggufDir is not null)
            {
                Console.Error.WriteLine($"llama.cpp {w}…");
                theirs = MeasureLlamaCpp(llamaBench, ggufDir, w, threads, pp, tg, reps);
            }
            foreach (var (test, stats) in ours)
                rows.Add(new Row(w, test, stats, theirs?.GetValueOrDefault(test), test.StartsWith("tg", StringComparison.Ordinal) ? decodeBytes : 0));
        }

        Console.Error.WriteLine("probing bandwidth…");
        double bandwidthAfter = MachineProbe.ReadBandwidth(threads);
        double bandwidth = Math.Max(bandwidthBefore, bandwidthAfter);
        Console.WriteLine($"# language model, {threads} threads, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine();
        Console.WriteLine($"model `{Path.GetFileName(Path.GetFullPath(model).TrimEnd('/'))}`; tokens/s median [min–max] of {reps} repetitions (after one warm-up);");
        Console.WriteLine($"streaming-read bandwidth probe in this process: {bandwidthBefore / 1e9:F1} GB/s before, {bandwidthAfter / 1e9:F1} GB/s after (bound: the larger).");
        Console.WriteLine("Decode GB/s = bytes of the decoder's matrices and lm_head per token × median tokens/s (both engines read the same bytes per token).");
        Console.WriteLine();
        Console.WriteLine("| weights | test | TokenSieve t/s | llama.cpp t/s | TokenSieve / llama.cpp | TokenSieve GB/s | % of bound | llama.cpp GB/s | % of bound |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            string lc = r.LlamaCpp is { } l ? l.ToString() : "";
            string ratio = r.LlamaCpp is { } l2 ? $"{r.Ours.Median / l2.Median:F2}x" : "";
            string Gbs(double tps) => r.DecodeBytes > 0 ? $"{r.DecodeBytes * tps / 1e9:F1}" : "";
            string Pct(double tps) => r.DecodeBytes > 0 ? $"{100 * r.DecodeBytes * tps / bandwidth:F0}%" : "";
            Console.WriteLine($"| {r.Weights} | {r.Test} | {r.Ours} | {lc} | {ratio} | {Gbs(r.Ours.Median)} | {Pct(r.Ours.Median)} | {(r.LlamaCpp is { } l3 ? Gbs(l3.Median) : "")} | {(r.LlamaCpp is { } l4 ? Pct(l4.Median) : "")} |");
        }
        Console.WriteLine();
        foreach (var line in memory) Console.WriteLine(line);
        return 0;
    }

    /// <summary>Median and range of tokens/s samples.</summary>
    sealed record Stats(double Median, double Min, double Max)
    {
        public static Stats Of(IReadOnlyList<double> xs)
        {
            var s = xs.Order().ToArray();
            double med = s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
            return new Stats(med, s[0], s[^1]);
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Median:F2} [{Min:F2}–{Max:F2}]");
    }

    sealed record Row(string Weights, string Test, Stats Ours, Stats? LlamaCpp, long DecodeBytes);

    static List<(string Test, Stats Stats)> MeasureOurs(string dir, string weights, ComputeContext ctx, int[] pp, int tg, int reps, out long decodeBytes, out string memory)
    {
        DType? type = QuantizedWeights.IsTypeName(weights) ? QuantizedWeights.Parse(weights) : null;
        using var m = LlavaModel.Load(dir, new ModelLoadOptions { WeightType = type, Compute = ctx });
        if (type is null && DTypes.Name(m.WeightType) != weights)
            throw new InvalidInputException($"{dir} holds {DTypes.Name(m.WeightType)} weights; --weights {weights} needs a quantisable type or a folder of that type");
        var dec = m.Decoder;
        var session = new InferenceSession(m, ctx);
        // Bytes a decode step streams: every decoder matrix and lm_head (one embedding row is negligible).
        decodeBytes = LlavaSchema.Decoder(m.Config.Text).Where(t => t.Kind == TensorKind.Matrix).Sum(t => DTypes.ByteCount(m.WeightType, t.Count))
            + (m.Config.Text.TieWordEmbeddings ? DTypes.ByteCount(m.WeightType, (long)m.Config.Text.VocabSize * m.Config.Text.HiddenSize) : 0);
        var rng = new Random(1);
        var results = new List<(string, Stats)>();
        foreach (int n in pp)
        {
            var seq = Sequence(dec, n, rng);
            session.Prefill(seq, 0);
            var tps = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                session.Prefill(seq, 0);
                tps.Add(n / Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            results.Add(($"pp{n}", Stats.Of(tps)));
        }
        if (tg > 0)
        {
            var one = Sequence(dec, 1, rng);
            var tgs = new List<double>();
            for (int r = 0; r <= reps; r++)
            {
                session.Prefill(one, tg);
                int token = rng.Next(3, Math.Min(dec.Config.VocabSize, 32000));
                long t0 = Stopwatch.GetTimestamp();
                for (int s = 0; s < tg; s++) session.DecodeStep(token);
                double sec = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (r > 0) tgs.Add(tg / sec);
            }
            results.Add(($"tg{tg}", Stats.Of(tgs)));
        }
        // Weights in their stored types (the whole model, vision tower included) against the process's memory once every
        // language-model page has been read: resident now, and the high-water mark since the process started (which,
        // with several weight types in one process, includes the earlier ones).
        memory = $"- {weights}: weights {m.WeightBytes / (double)(1L << 30):F2} GiB (stored types), KV cache {session.Cache!.BytesInUse / (double)(1L << 30):F2} GiB; "
            + $"RSS after the runs {ProcessMemory.Resident / (double)(1L << 30):F2} GiB, peak RSS {ProcessMemory.PeakResident / (double)(1L << 30):F2} GiB";
        return results;
    }

    static SplicedSequence Sequence(LlamaDecoder dec, int n, Random rng)
    {
        var ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = i == 0 ? dec.Config.BosTokenId : rng.Next(3, Math.Min(dec.Config.VocabSize, 32000));
        var emb = new float[n * dec.Config.HiddenSize];
        dec.Embed(ids, emb);
        return new SplicedSequence { Embeddings = emb, Length = n, Positions = Enumerable.Range(0, n).ToArray(), InputIds = ids, Images = [] };
    }

    /// <summary>Runs llama-bench on the GGUF of this weight type in <paramref name="ggufDir"/> (the file whose name
    /// ends in -{type}.gguf) and reads its JSON output.</summary>
    static Dictionary<string, Stats> MeasureLlamaCpp(string exe, string ggufDir, string weights, int threads, int[] pp, int tg, int reps)
    {
        var file = Directory.EnumerateFiles(ggufDir, $"*-{weights}.gguf").Where(f => !Path.GetFileName(f).StartsWith("mmproj", StringComparison.Ordinal)).FirstOrDefault()
            ?? throw new FileNotFoundException($"no *-{weights}.gguf in {ggufDir}");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-m", file, "-t", threads.ToString(CultureInfo.InvariantCulture), "-p", string.Join(",", pp), "-n", tg.ToString(CultureInfo.InvariantCulture),
                     "-r", reps.ToString(CultureInfo.InvariantCulture), "-o", "json" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string json = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"llama-bench failed ({p.ExitCode}): {stderr.Result}");
        var result = new Dictionary<string, Stats>();
        foreach (var e in JsonDocument.Parse(json).RootElement.EnumerateArray())
        {
            int nPrompt = e.GetProperty("n_prompt").GetInt32(), nGen = e.GetProperty("n_gen").GetInt32();
            string test = nGen > 0 ? $"tg{nGen}" : $"pp{nPrompt}";
            result[test] = Stats.Of(e.GetProperty("samples_ts").EnumerateArray().Select(x => x.GetDouble()).ToList());
        }
        return result;
    }
}
